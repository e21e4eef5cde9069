/// The steps of an SMTP session, used for timeouts, timings and to say where a verdict
/// was decided. The raw values are the names used in JSON output.
public enum SMTPStep: String, Sendable, Hashable, Comparable, CaseIterable {
    /// The TCP handshake.
    case connect
    /// The 220 banner.
    case greeting
    /// EHLO and its capability list.
    case ehlo
    /// HELO, after EHLO was refused with 500/502.
    case helo
    /// AUTH PLAIN or LOGIN.
    case auth
    /// MAIL FROM.
    case mail
    /// RCPT TO.
    case rcpt
    /// DATA (the 354 reply).
    case data
    /// The message and the reply after the final dot.
    case endOfData = "end-of-data"
    /// QUIT (never awaited).
    case quit

    /// Hashes the case, not its raw value: an enum with raw values otherwise hashes its
    /// `String` (the standard library's default for `RawRepresentable`), on every access
    /// to the session's timings, several per session.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(order)
    }

    /// Steps order as they happen in a session (connect first, QUIT last).
    public static func < (lhs: SMTPStep, rhs: SMTPStep) -> Bool {
        lhs.order < rhs.order
    }

    private var order: UInt8 {
        switch self {
        case .connect: 0
        case .greeting: 1
        case .ehlo: 2
        case .helo: 3
        case .auth: 4
        case .mail: 5
        case .rcpt: 6
        case .data: 7
        case .endOfData: 8
        case .quit: 9
        }
    }
}
