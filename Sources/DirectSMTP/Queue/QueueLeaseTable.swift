import Foundation

/// The lease rules of ``QueueStore`` as a pure value: the stored entries, each with its
/// current lease, and the checks every operation makes. No I/O and no clock: the
/// in-memory store keeps one behind a lock, and the journal store rebuilds one from its
/// records and checks each operation against it before writing the operation's record.
struct QueueLeaseTable: Sendable {
    /// One stored entry and its lease, if one was ever given and not released.
    struct Slot: Sendable, Hashable {
        var entry: QueueEntry
        var lease: QueueLease?

        /// Leased by someone whose lease runs past `now`.
        func isLeased(at now: Date) -> Bool {
            guard let lease else { return false }
            return lease.expiresAt > now
        }
    }

    private(set) var slots: [String: Slot] = [:]

    init() {}

    init(_ entries: [QueueEntry]) {
        for entry in entries { slots[entry.id] = Slot(entry: entry, lease: nil) }
    }

    var count: Int { slots.count }

    var entries: [QueueEntry] { slots.values.map(\.entry) }

    // MARK: Checks (throw, change nothing)

    func checkNew(_ entry: QueueEntry) throws(QueueStoreError) {
        guard slots[entry.id] == nil else {
            throw QueueStoreError(.duplicateID, "an entry with id \(entry.id) is already stored")
        }
    }

    /// The slot `lease` holds, or `lease-lost`.
    func held(by lease: QueueLease) throws(QueueStoreError) -> Slot {
        guard let slot = slots[lease.entryID], slot.lease?.token == lease.token else {
            throw QueueStoreError(
                .leaseLost,
                slots[lease.entryID] == nil
                    ? "entry \(lease.entryID) is no longer stored"
                    : "the lease on entry \(lease.entryID) was taken over after it expired")
        }
        return slot
    }

    /// The due, unleased entries at `now`, earliest `nextAttemptAt` first, at most `limit`.
    func due(now: Date, limit: Int) -> [QueueEntry] {
        guard limit > 0 else { return [] }
        let candidates = slots.values.filter {
            $0.entry.nextAttemptAt <= now && !$0.isLeased(at: now)
        }
        return candidates.map(\.entry)
            .sorted {
                ($0.nextAttemptAt, $0.createdAt, $0.id) < ($1.nextAttemptAt, $1.createdAt, $1.id)
            }
            .prefix(limit).map { $0 }
    }

    /// The entries a purge at `now` of those created before `cutoff` removes.
    func purgeable(createdBefore cutoff: Date, now: Date) -> [QueueEntry] {
        slots.values.filter { $0.entry.createdAt < cutoff && !$0.isLeased(at: now) }.map(\.entry)
            .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    // MARK: Changes (unchecked: the journal replays them as recorded)

    mutating func put(_ entry: QueueEntry, lease: QueueLease?) {
        slots[entry.id] = Slot(entry: entry, lease: lease)
    }

    /// Sets the lease of a stored entry; an unknown id is ignored (replay is forgiving).
    mutating func setLease(_ lease: QueueLease?, of id: String) {
        slots[id]?.lease = lease
    }

    /// Applies a reschedule: the new bookkeeping, lease released.
    mutating func reschedule(_ id: String, attempts: Int, nextAttemptAt: Date, lastReason: String?)
    {
        guard var slot = slots[id] else { return }
        slot.entry.attempts = attempts
        slot.entry.nextAttemptAt = nextAttemptAt
        slot.entry.lastReason = lastReason
        slot.lease = nil
        slots[id] = slot
    }

    mutating func remove(_ id: String) {
        slots[id] = nil
    }
}
