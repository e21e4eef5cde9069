/// An MX record of an answer whose host has no addresses in it (so it is not among
/// ``MXAnswer/hosts``, which the race dials): `directsmtp mx` lists it as `dig` would.
public struct UnresolvedMailHost: Sendable, Hashable {
    /// Why the host has no addresses in the answer.
    public enum Status: Sendable, Hashable {
        /// Not asked for: the resolver asks at most ``MXResolver/maximumMXHosts`` hosts at
        /// once, the most preferred first, and asks no further once some have addresses.
        case notAsked
        /// Asked for: the name has no A or AAAA record (NXDOMAIN or NODATA).
        case noAddresses
        /// Asked for: the lookup failed (time-out, SERVFAIL, the deadline).
        case lookupFailed
    }

    /// A-label, lower-case, no trailing dot.
    public var name: String
    /// The MX preference.
    public var preference: Int
    /// Why it has no addresses here.
    public var status: Status

    /// A host with every field given.
    public init(name: String, preference: Int, status: Status) {
        self.name = name
        self.preference = preference
        self.status = status
    }
}
