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

    /// The due, unleased entries at `now`, earliest `nextAttemptAt` first (then oldest,
    /// then by id), at most `limit`. One pass keeping the best `limit` in a max-heap: a
    /// worker claiming a batch at a time from a large backlog pays O(n log limit), not a
    /// sort of every due entry per batch.
    func due(now: Date, limit: Int) -> [QueueEntry] {
        guard limit > 0 else { return [] }
        var heap: [QueueEntry] = []  // heap[0] is the latest of those kept
        heap.reserveCapacity(min(limit, slots.count))
        for slot in slots.values where slot.entry.nextAttemptAt <= now && !slot.isLeased(at: now) {
            if heap.count < limit {
                heap.append(slot.entry)
                Self.siftUp(&heap, from: heap.count - 1)
            } else if Self.precedes(slot.entry, heap[0]) {
                heap[0] = slot.entry
                Self.siftDown(&heap, from: 0)
            }
        }
        return heap.sorted(by: Self.precedes)
    }

    /// Claim order: earliest due, then oldest, then by id.
    static func precedes(_ a: QueueEntry, _ b: QueueEntry) -> Bool {
        if a.nextAttemptAt != b.nextAttemptAt { return a.nextAttemptAt < b.nextAttemptAt }
        if a.createdAt != b.createdAt { return a.createdAt < b.createdAt }
        return a.id < b.id
    }

    private static func siftUp(_ heap: inout [QueueEntry], from start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard precedes(heap[parent], heap[child]) else { return }
            heap.swapAt(parent, child)
            child = parent
        }
    }

    private static func siftDown(_ heap: inout [QueueEntry], from start: Int) {
        var parent = start
        while true {
            var latest = parent
            for child in [2 * parent + 1, 2 * parent + 2]
            where child < heap.count && precedes(heap[latest], heap[child]) {
                latest = child
            }
            if latest == parent { return }
            heap.swapAt(parent, latest)
            parent = latest
        }
    }

    /// The earliest time an entry can be claimed or purged (see
    /// ``QueueStore/nextDueDate(maxAge:)``); `nil` when empty. One pass, no copies.
    func nextDueDate(maxAge: Duration) -> Date? {
        var earliest: Date?
        for slot in slots.values {
            var date = min(
                slot.entry.nextAttemptAt,
                slot.entry.createdAt.addingTimeInterval(maxAge.queueSeconds))
            if let lease = slot.lease { date = max(date, lease.expiresAt) }
            if earliest.map({ date < $0 }) ?? true { earliest = date }
        }
        return earliest
    }

    /// The entries due after `now` that no live lease holds (for an operator's "retry
    /// everything now").
    func notDue(now: Date) -> [QueueEntry] {
        slots.values.filter { $0.entry.nextAttemptAt > now && !$0.isLeased(at: now) }.map(\.entry)
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
