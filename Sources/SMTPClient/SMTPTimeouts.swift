/// One timeout per SMTP step (RFC 5321 §4.5.3.2), each a bound on waiting for that
/// step's reply (or, for ``connect``, on the TCP handshake).
///
/// RFC 5321 suggests minutes, meant for MTAs; ``interactive`` is in seconds, for a sign-up
/// page that must answer quickly: connect 2 s, greeting 3 s, EHLO (and HELO, AUTH,
/// STARTTLS) 2 s, TLS handshake 3 s, MAIL 3 s, RCPT 3 s, DATA 2 s, end of data 5 s.
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
    /// The TLS handshake after STARTTLS's 220 (the STARTTLS reply itself counts as EHLO).
    public var tlsHandshake: Duration

    /// Every step's timeout, given explicitly; the TLS handshake's defaults to ``ehlo``'s.
    public init(
        connect: Duration, greeting: Duration, ehlo: Duration, mail: Duration,
        rcpt: Duration, data: Duration, endOfData: Duration, tlsHandshake: Duration? = nil
    ) {
        self.tlsHandshake = tlsHandshake ?? ehlo
        self.connect = connect
        self.greeting = greeting
        self.ehlo = ehlo
        self.mail = mail
        self.rcpt = rcpt
        self.data = data
        self.endOfData = endOfData
    }

    /// Seconds, suited to a sign-up page: connect 2 s, greeting 3 s, EHLO 2 s, TLS
    /// handshake 3 s, MAIL 3 s, RCPT 3 s, DATA 2 s, end of data 5 s.
    public static let interactive = SMTPTimeouts(
        connect: .seconds(2), greeting: .seconds(3), ehlo: .seconds(2), mail: .seconds(3),
        rcpt: .seconds(3), data: .seconds(2), endOfData: .seconds(5), tlsHandshake: .seconds(3))

    /// For work nobody waits on (the queue's re-sends): connect 10 s, greeting 20 s, EHLO
    /// 10 s, MAIL 10 s, RCPT 20 s, DATA 10 s, end of data 30 s. Long enough for servers
    /// slow on purpose (with its pregreet test on, Postfix's postscreen can keep a client
    /// it has not seen before waiting up to 6 s, `postscreen_greet_wait`, for the end of
    /// its greeting, past ``interactive``'s 3 s; RCPT tarpits wait seconds too); short
    /// enough that a dead domain holds a queue run for seconds, not minutes (RFC 5321's
    /// minutes are for MTAs that hold a message for days anyway).
    public static let patient = SMTPTimeouts(
        connect: .seconds(10), greeting: .seconds(20), ehlo: .seconds(10), mail: .seconds(10),
        rcpt: .seconds(20), data: .seconds(10), endOfData: .seconds(30))

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
