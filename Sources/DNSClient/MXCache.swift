/// The resolver's cache: a pure value (no I/O, no clock of its own), bounded in size,
/// evicting expired entries first and then the least recently used.
struct MXCache {
    struct Entry {
        var lookup: MXLookup
        var expires: ContinuousClock.Instant
        var lastUsed: UInt64
        /// Some equal preferences to reshuffle on every hit.
        var hasTies: Bool
    }

    private(set) var entries: [String: Entry] = [:]
    private var tick: UInt64 = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = max(capacity, 0) }

    var count: Int { entries.count }

    /// The entry for `key` if it has not expired at `now`.
    mutating func get(_ key: String, now: ContinuousClock.Instant) -> Entry? {
        guard let index = entries.index(forKey: key) else { return nil }
        let entry = entries.values[index]
        guard entry.expires > now else {
            entries.remove(at: index)
            return nil
        }
        tick &+= 1
        entries.values[index].lastUsed = tick
        return entry
    }

    /// Stores `lookup` until `expires`.
    mutating func set(
        _ key: String, _ lookup: MXLookup, expires: ContinuousClock.Instant,
        now: ContinuousClock.Instant
    ) {
        guard capacity > 0, expires > now else { return }
        if entries[key] == nil, entries.count >= capacity { evict(now: now) }
        tick &+= 1
        var hasTies = false
        if case .found(let answer) = lookup {
            hasTies = zip(answer.hosts, answer.hosts.dropFirst()).contains {
                $0.preference == $1.preference
            }
        }
        entries[key] = Entry(lookup: lookup, expires: expires, lastUsed: tick, hasTies: hasTies)
    }

    mutating func removeAll() { entries.removeAll() }

    /// Drops expired entries; if that frees less than a tenth, drops the least recently
    /// used down to 90% of the capacity (amortised: one sort per capacity/10 inserts).
    mutating func evict(now: ContinuousClock.Instant) {
        entries = entries.filter { $0.value.expires > now }
        let target = capacity - max(capacity / 10, 1)
        guard entries.count > target else { return }
        let byAge = entries.sorted { $0.value.lastUsed < $1.value.lastUsed }
        for (key, _) in byAge.prefix(entries.count - target) { entries.removeValue(forKey: key) }
    }
}
