import Sockets

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
/// until its TTL ends on the injected clock; beside it, what catch-all tests learned per
/// domain.
final class ProbeCache: Sendable {
    /// Expiry times are kept as the time since the cache was made (`origin`):
    /// `ContinuousClock.Instant` is not frozen, so entries holding one had a layout known
    /// only at run time, and every lookup and store went through the runtime's type
    /// metadata and value witnesses.
    private struct Entry {
        var outcome: VerificationOutcome
        var expires: Duration
    }

    private struct CatchAllEntry {
        var catchAll: Bool
        var expires: Duration
    }

    private struct Table {
        var entries: [String: Entry] = [:]
        /// Per lower-cased domain: whether it accepts any local part.
        var catchAll: [String: CatchAllEntry] = [:]
        /// Full-table sweeps so far (for tests: they must stay rare).
        var sweeps = 0
    }

    private let policy: ProbeCachePolicy
    private let clock: @Sendable () -> ContinuousClock.Instant
    private let origin: ContinuousClock.Instant
    private let table = Lock(Table())

    init(policy: ProbeCachePolicy, clock: @escaping @Sendable () -> ContinuousClock.Instant) {
        self.policy = policy
        self.clock = clock
        self.origin = clock()
        self.isEnabled = policy.capacity > 0 && (policy.positiveTTL > .zero || policy.negativeTTL > .zero)
    }

    /// The clock's time, as the time since `origin`.
    private func now() -> Duration { origin.duration(to: clock()) }

    /// The key of an address: the local part as given (it may be case-sensitive), the
    /// domain in lower case.
    static func key(for address: String) -> String {
        var address = address
        // Byte by byte over the string's contiguous UTF-8 (`withUTF8` copies only a
        // bridged string; a native one has it): `@` and upper-case letters are ASCII, and
        // walking Characters (grapheme clusters), or even the UTF8View's index steps, cost
        // more than the rest of the probe's bookkeeping.
        let lowerAfter: Int? = address.withUTF8 { bytes in
            guard let at = bytes.lastIndex(of: UInt8(ascii: "@")),
                bytes[(at + 1)...].contains(where: {
                    (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || $0 >= 0x80
                })
            else { return nil }
            return at
        }
        // Usually so (domains are A-labels in lower case): the address itself, with no
        // new strings.
        guard let lowerAfter else { return address }
        let at = address.utf8.index(address.utf8.startIndex, offsetBy: lowerAfter)
        return String(address[..<at]) + "@" + address[address.utf8.index(after: at)...].lowercased()
    }

    /// `false` when the policy stores nothing: lookups can then skip the clock and lock.
    /// Decided once, from the policy, not on every probe (three `Duration` comparisons).
    let isEnabled: Bool

    /// A fresh cached outcome for `key`, if any.
    func outcome(for key: String) -> VerificationOutcome? {
        guard isEnabled else { return nil }
        let now = self.now()
        return table.withLock { Self.fresh(key, in: &$0.entries, now: now, expires: \.expires)?.outcome }
    }

    /// Remembers `outcome` if the policy says so. A full cache drops its expired entries
    /// and, if still full, an eighth of its capacity at once: one sweep of the table per
    /// capacity/8 new addresses, never one per store (a full cache of fresh entries cost
    /// every new probe a copy of the whole table, under the lock all probes take).
    func store(_ outcome: VerificationOutcome, for key: String) {
        guard isEnabled else { return }  // nor a catch-all: the same policy keeps none
        storeCatchAll(of: outcome, for: key)
        guard let ttl = policy.ttl(for: outcome.reason) else { return }
        let now = self.now()
        table.withLock { table in
            if Self.makeRoom(for: key, in: &table.entries, capacity: policy.capacity, now: now, expires: \.expires) {
                table.sweeps += 1
            }
            // Without the transcript: a cached answer involved no conversation, and a
            // probe's transcript (a dozen lines) would make a full cache weigh ~150 MB.
            var kept = outcome
            kept.transcript = []
            table.entries[key] = Entry(outcome: kept, expires: now + ttl)
        }
    }

    /// Remembers what an outcome's catch-all test found for its domain, with the lifetime
    /// the random address's own outcome would have had: a catch-all (the random address
    /// accepted) as long as a positive answer, a domain that refuses unknown addresses as
    /// long as a negative one. Independent of whether the outcome itself is kept.
    func storeCatchAll(of outcome: VerificationOutcome, for key: String) {
        guard let catchAll = outcome.catchAll,
            let ttl = policy.ttl(for: catchAll ? .accepted : .recipientRejected), policy.capacity > 0
        else { return }
        let domain = Self.domain(ofKey: key)
        let now = self.now()
        table.withLock { table in
            _ = Self.makeRoom(for: domain, in: &table.catchAll, capacity: policy.capacity, now: now, expires: \.expires)
            table.catchAll[domain] = CatchAllEntry(catchAll: catchAll, expires: now + ttl)
        }
    }

    /// Whether the domain of `key` (an address's cache key) is a catch-all, when a fresh
    /// test said so; `nil` when unknown.
    func catchAll(for key: String) -> Bool? {
        guard isEnabled else { return nil }
        let domain = Self.domain(ofKey: key)
        let now = self.now()
        return table.withLock { Self.fresh(domain, in: &$0.catchAll, now: now, expires: \.expires)?.catchAll }
    }

    /// The entry for `key` unless it has expired (then it goes).
    private static func fresh<Value>(
        _ key: String, in entries: inout [String: Value], now: Duration,
        expires: (Value) -> Duration
    ) -> Value? {
        guard let entry = entries[key] else { return nil }
        if expires(entry) <= now {
            entries[key] = nil
            return nil
        }
        return entry
    }

    /// Room for `key` in a full table: its expired entries go and, if it is still full, an
    /// eighth of `capacity` at once. `true` when it swept the table.
    private static func makeRoom<Value>(
        for key: String, in entries: inout [String: Value], capacity: Int,
        now: Duration, expires: (Value) -> Duration
    ) -> Bool {
        guard entries.count >= capacity, entries[key] == nil else { return false }
        entries = entries.filter { expires($0.value) > now }
        let excess = entries.count - (capacity - max(1, capacity / 8))
        if excess > 0 {
            for victim in Array(entries.keys.prefix(excess)) { entries[victim] = nil }
        }
        return true
    }

    /// The domain part of a cache key (already lower-cased by ``key(for:)``).
    private static func domain(ofKey key: String) -> String {
        guard let at = key.utf8.lastIndex(of: UInt8(ascii: "@")) else { return key }
        return String(key[key.utf8.index(after: at)...])
    }

    /// Forgets everything.
    func removeAll() {
        table.withLock {
            $0.entries.removeAll()
            $0.catchAll.removeAll()
        }
    }

    /// Addresses remembered now (expired ones included until touched or swept).
    var count: Int { table.withLock { $0.entries.count } }

    /// Full-table sweeps made so far.
    var sweeps: Int { table.withLock { $0.sweeps } }
}
