import DNSClient

/// The real MX lookup of the race: the DNS resolver's three answers as the core's.
extension MXResolver: MailExchangerLookup {
    nonisolated func mailExchangers(for domain: String, deadline: ContinuousClock.Instant) async
        -> MailExchangerLookupResult
    {
        switch await mx(for: domain, deadline: deadline) {
        case .found(let answer):
            return .found(answer.hosts, complete: answer.isComplete)
        case .noMailServer(let reason):
            return .noMailServer(Self.sentence(for: reason))
        case .dnsUnavailable(let detail):
            return .dnsUnavailable(detail)
        }
    }

    /// A sentence for a "no mail server" answer.
    nonisolated static func sentence(for reason: NoMailServerReason) -> String {
        switch reason {
        case .nonExistentDomain: "the domain does not exist (NXDOMAIN)"
        case .nullMX: "the domain publishes a null MX (RFC 7505): it accepts no mail"
        case .noAddressRecords: "the domain has no MX record and no address record"
        case .hostsWithoutAddresses: "none of the domain's MX hosts has an address"
        }
    }
}
