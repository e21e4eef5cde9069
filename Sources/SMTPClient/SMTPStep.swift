/// The steps of an SMTP session, used for timeouts, timings and to say where a verdict
/// was decided. The raw values are the names used in JSON output.
public enum SMTPStep: String, Sendable, Hashable {
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
}
