/// What ``MXResolver/mx(for:deadline:)`` learned.
public enum MXLookup: Sendable, Hashable {
    /// Mail hosts to try, in order.
    case found(MXAnswer)
    /// DNS answered, and the answer is that there is no mail server (scenario 3,
    /// rejected, `no-mail-server`).
    case noMailServer(NoMailServerReason)
    /// DNS could not tell: timeouts, SERVFAIL, REFUSED, unreachable servers, garbage,
    /// the caller's deadline, cancellation (scenario 1, deferred, `dns-unavailable`). The
    /// string is a detail for people.
    case dnsUnavailable(String)
}
