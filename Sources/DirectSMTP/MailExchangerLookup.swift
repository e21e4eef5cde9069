import DNSClient

/// What an MX lookup told the coordinator: hosts to race (preference ascending, equal
/// preferences already shuffled), no mail server (scenario 3), or DNS unavailable (1).
enum MailExchangerLookupResult: Sendable, Hashable {
    /// `complete`: every host was asked and answered (see `MXAnswer.isComplete`).
    case found([MailHost], complete: Bool = true)
    case noMailServer(String)
    case dnsUnavailable(String)
}

/// Finds the MX hosts of a domain. The real one is the DNS resolver (`MXResolver`);
/// tests plug in fakes with controlled delays and failures. Must never throw; gives up by
/// the deadline, or when cancelled.
protocol MailExchangerLookup: Sendable {
    func mailExchangers(for domain: String, deadline: ContinuousClock.Instant) async
        -> MailExchangerLookupResult
}
