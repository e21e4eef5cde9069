import Sockets

/// One MX host as the racing core sees it: the resolver's `MailHost`, reduced to what the
/// race needs.
struct MailExchanger: Sendable, Hashable {
    /// A-label, lower case, no trailing dot (or an address literal such as `[192.0.2.1]`).
    var name: String
    var preference: Int
    /// AAAA/A interleaved, AAAA first, as the resolver orders them.
    var addresses: [IPAddress]
}

/// What an MX lookup told the coordinator: hosts to race (preference ascending, equal
/// preferences already shuffled), no mail server (scenario 3), or DNS unavailable (1).
enum MailExchangerLookupResult: Sendable, Hashable {
    /// `complete`: every host was asked and answered (see `MXAnswer.isComplete`).
    case found([MailExchanger], complete: Bool = true)
    case noMailServer(String)
    case dnsUnavailable(String)
}

/// Finds the MX hosts of a domain. The real one is the DNS resolver (`MXResolver`);
/// tests plug in fakes with controlled delays and failures. Must never throw; may ignore
/// the deadline (the coordinator races its own).
protocol MailExchangerLookup: Sendable {
    func mailExchangers(for domain: String, deadline: ContinuousClock.Instant) async
        -> MailExchangerLookupResult
}
