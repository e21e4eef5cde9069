/// The mail hosts of a domain, in the order to try them.
public struct MXAnswer: Sendable, Hashable {
    /// The A-label name looked up.
    public var domain: String
    /// Preference ascending, equal preferences shuffled (RFC 5321 §5.1); every host has
    /// at least one address.
    public var hosts: [MailHost]
    /// No MX record existed: the domain's own A/AAAA form one host of preference 0.
    public var isImplicit: Bool
    /// Every MX host was asked and every address lookup answered. `false` when some
    /// failed (or were not asked because earlier hosts had addresses): the hosts given
    /// are usable, but other hosts may exist that the answer does not show.
    public var isComplete: Bool
    /// The other MX records, preference ascending: hosts not asked for (beyond
    /// ``MXResolver/maximumMXHosts``), without addresses, or whose lookup failed. With
    /// ``hosts``, every MX record of the answer (a null MX beside others left out).
    public var unresolvedHosts: [UnresolvedMailHost]

    /// An answer with every field given.
    public init(
        domain: String, hosts: [MailHost], isImplicit: Bool, isComplete: Bool = true,
        unresolvedHosts: [UnresolvedMailHost] = []
    ) {
        self.domain = domain
        self.hosts = hosts
        self.isImplicit = isImplicit
        self.isComplete = isComplete
        self.unresolvedHosts = unresolvedHosts
    }
}
