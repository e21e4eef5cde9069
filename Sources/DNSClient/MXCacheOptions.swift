/// How ``MXResolver`` caches.
public struct MXCacheOptions: Sendable, Hashable {
    /// The most domains kept; beyond it expired entries go first, then the least recently
    /// used.
    public var capacity: Int
    /// The longest any answer is kept, whatever its TTL says (default one day).
    public var maximumTTL: Duration
    /// How long a `dnsUnavailable` result (and an answer for which some host lookup
    /// failed) is kept: zero by default (not cached), never more than 5 minutes.
    public var unavailableTTL: Duration

    /// Options with every field given.
    public init(
        capacity: Int = 10_000, maximumTTL: Duration = .seconds(86_400),
        unavailableTTL: Duration = .zero
    ) {
        self.capacity = capacity
        self.maximumTTL = maximumTTL
        self.unavailableTTL = unavailableTTL
    }

    /// No caching at all (in-flight lookups are still coalesced).
    public static let disabled = MXCacheOptions(capacity: 0)
}
