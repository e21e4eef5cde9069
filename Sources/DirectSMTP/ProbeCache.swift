import Synchronization

/// How long probe outcomes are remembered, in the spirit of Postfix verify(8): a
/// positive answer for long, a negative one for less, an inconclusive one not at all.
public struct ProbeCachePolicy: Sendable, Hashable {
    /// How long an `accepted` probe is reused (default 24 h, as Exim's callout cache).
    public var positiveTTL: Duration
    /// How long `recipient-rejected` and `no-mail-server` are reused (default 3 h, as
    /// Postfix's `address_verify_negative_refresh_time`).
    public var negativeTTL: Duration
    /// At most this many addresses are remembered (default 100,000).
    public var capacity: Int

    /// A policy; `.zero` TTLs turn caching off for that kind.
    public init(
        positiveTTL: Duration = .seconds(86_400), negativeTTL: Duration = .seconds(3 * 3600),
        capacity: Int = 100_000
    ) {
        self.positiveTTL = positiveTTL
        self.negativeTTL = negativeTTL
        self.capacity = capacity
    }

    /// No caching at all.
    public static let disabled = ProbeCachePolicy(positiveTTL: .zero, negativeTTL: .zero)

    /// How long an outcome may be reused; `nil` for not at all. Deferred outcomes and
    /// `sender-rejected` (about us, not the address) are never cached.
    func ttl(for reason: OutcomeReason) -> Duration? {
        let ttl: Duration
        switch reason {
        case .accepted: ttl = positiveTTL
        case .recipientRejected, .noMailServer: ttl = negativeTTL
        default: return nil
        }
        return ttl > .zero ? ttl : nil
    }
}

/// The per-address probe outcome cache: outcomes keyed by the normalised address, each
/// until its TTL ends on the injected clock.
final class ProbeCache: Sendable {
    private struct Entry {
        var outcome: VerificationOutcome
        var expires: ContinuousClock.Instant
    }

    private let policy: ProbeCachePolicy
    private let clock: @Sendable () -> ContinuousClock.Instant
    private let entries = Mutex<[String: Entry]>([:])

    init(policy: ProbeCachePolicy, clock: @escaping @Sendable () -> ContinuousClock.Instant) {
        self.policy = policy
        self.clock = clock
    }

    /// The key of an address: the local part as given (it may be case-sensitive), the
    /// domain in lower case.
    static func key(for address: String) -> String {
        guard let at = address.lastIndex(of: "@") else { return address }
        return String(address[..<at]) + "@" + address[at...].dropFirst().lowercased()
    }

    /// A fresh cached outcome for `key`, if any.
    func outcome(for key: String) -> VerificationOutcome? {
        let now = clock()
        return entries.withLock { table in
            guard let entry = table[key] else { return nil }
            if entry.expires <= now {
                table[key] = nil
                return nil
            }
            return entry.outcome
        }
    }

    /// Remembers `outcome` if the policy says so.
    func store(_ outcome: VerificationOutcome, for key: String) {
        guard let ttl = policy.ttl(for: outcome.reason), policy.capacity > 0 else { return }
        let now = clock()
        entries.withLock { table in
            if table.count >= policy.capacity, table[key] == nil {
                table = table.filter { $0.value.expires > now }
                while table.count >= policy.capacity, let any = table.keys.first {
                    table[any] = nil
                }
            }
            table[key] = Entry(outcome: outcome, expires: now + ttl)
        }
    }

    /// Forgets everything.
    func removeAll() {
        entries.withLock { $0.removeAll() }
    }
}
