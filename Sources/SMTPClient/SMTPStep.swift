/// The steps of an SMTP session, used for timeouts, timings and to say where a verdict
/// was decided.
public enum SMTPStep: String, Sendable, Hashable {
    case connect, greeting, ehlo, helo, auth, mail, rcpt, data, endOfData = "end-of-data", quit
}
