import Sockets

/// One mail server for a domain: its name, MX preference and addresses.
public struct MailHost: Sendable, Hashable {
    /// A-label, lower-case, no trailing dot.
    public var name: String
    /// The MX preference (lower first); 0 for an implicit MX.
    public var preference: Int
    /// AAAA and A addresses interleaved, AAAA first (RFC 8305). Never empty in an
    /// ``MXAnswer``.
    public var addresses: [IPAddress]

    /// A host with every field given.
    public init(name: String, preference: Int, addresses: [IPAddress]) {
        self.name = name
        self.preference = preference
        self.addresses = addresses
    }
}

/// The mail hosts of a domain, in the order to try them.
public struct MXAnswer: Sendable, Hashable {
    /// The A-label name looked up.
    public var domain: String
    /// Preference ascending, equal preferences shuffled (RFC 5321 §5.1); every host has
    /// at least one address.
    public var hosts: [MailHost]
    /// No MX record existed: the domain's own A/AAAA form one host of preference 0.
    public var isImplicit: Bool

    /// An answer with every field given.
    public init(domain: String, hosts: [MailHost], isImplicit: Bool) {
        self.domain = domain
        self.hosts = hosts
        self.isImplicit = isImplicit
    }
}

/// Why DNS says definitively that a domain receives no mail (scenario 3, `no-mail-server`).
public enum NoMailServerReason: String, Sendable, Hashable {
    /// NXDOMAIN: the domain does not exist.
    case nonExistentDomain
    /// The domain's only MX record is the null MX `0 .` (RFC 7505).
    case nullMX
    /// No MX record and no A/AAAA record for the domain itself.
    case noAddressRecords
    /// MX records exist, but no MX host name has an address (each NXDOMAIN or NODATA).
    case hostsWithoutAddresses
}

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
