/// One timeout per SMTP step (RFC 5321 §4.5.3.2), each a bound on waiting for that
/// step's reply (or, for ``connect``, on the TCP handshake).
///
/// RFC 5321 suggests minutes, meant for MTAs; ``interactive`` is in seconds, for a sign-up
/// page that must answer quickly: connect 2 s, greeting 3 s, EHLO (and HELO, AUTH) 2 s,
/// MAIL 3 s, RCPT 3 s, DATA 2 s, end of data 5 s.
public struct SMTPTimeouts: Sendable, Hashable {
    /// The TCP handshake.
    public var connect: Duration
    /// The 220 greeting, counted from the connection.
    public var greeting: Duration
    /// The EHLO (or HELO, or each AUTH) reply.
    public var ehlo: Duration
    /// The MAIL FROM reply.
    public var mail: Duration
    /// The RCPT TO reply.
    public var rcpt: Duration
    /// The DATA (354) reply.
    public var data: Duration
    /// Sending the message and the reply after the final dot.
    public var endOfData: Duration

    /// Every step's timeout, given explicitly.
    public init(
        connect: Duration, greeting: Duration, ehlo: Duration, mail: Duration,
        rcpt: Duration, data: Duration, endOfData: Duration
    ) {
        self.connect = connect
        self.greeting = greeting
        self.ehlo = ehlo
        self.mail = mail
        self.rcpt = rcpt
        self.data = data
        self.endOfData = endOfData
    }

    /// Seconds, suited to a sign-up page: connect 2 s, greeting 3 s, EHLO 2 s, MAIL 3 s,
    /// RCPT 3 s, DATA 2 s, end of data 5 s.
    public static let interactive = SMTPTimeouts(
        connect: .seconds(2), greeting: .seconds(3), ehlo: .seconds(2), mail: .seconds(3),
        rcpt: .seconds(3), data: .seconds(2), endOfData: .seconds(5))

    /// The same value for every step (handy in tests).
    public static func uniform(_ timeout: Duration) -> SMTPTimeouts {
        SMTPTimeouts(connect: timeout, greeting: timeout, ehlo: timeout, mail: timeout,
                     rcpt: timeout, data: timeout, endOfData: timeout)
    }

    /// The timeout for `step` (AUTH and HELO use ``ehlo``; QUIT uses one second).
    public func timeout(for step: SMTPStep) -> Duration {
        switch step {
        case .connect: connect
        case .greeting: greeting
        case .ehlo, .helo, .auth: ehlo
        case .mail: mail
        case .rcpt: rcpt
        case .data: data
        case .endOfData: endOfData
        case .quit: .seconds(1)
        }
    }
}
