import Foundation
import Sockets

/// A queue store that keeps entries in memory only: for tests, and for applications that
/// accept losing deferred messages on a restart. Follows the ``QueueStore`` contract,
/// leases and fencing included, for any number of workers in one process.
public final class InMemoryQueueStore: QueueStoreMakingDue {
    private let table: Lock<QueueLeaseTable>

    /// Creates a store holding `entries` (unleased; a repeated id keeps the last).
    public init(_ entries: [QueueEntry] = []) {
        table = Lock(QueueLeaseTable(entries))
    }

    /// The number of stored entries.
    public var count: Int { table.withLock { $0.count } }

    // MARK: QueueStore

    /// Stores a new, unleased entry.
    public func enqueue(_ entry: QueueEntry) async throws {
        try table.withLock { (table) throws(QueueStoreError) in
            try table.checkNew(entry)
            table.put(entry, lease: nil)
        }
    }

    /// Stores a new entry leased by the caller until `now + leaseFor`.
    public func enqueueLeased(_ entry: QueueEntry, leaseFor: Duration, now: Date) async throws
        -> QueueLease
    {
        try table.withLock { (table) throws(QueueStoreError) in
            try table.checkNew(entry)
            let lease = QueueLease(
                entryID: entry.id, token: QueueLease.makeToken(), expiresAt: now.adding(leaseFor))
            table.put(entry, lease: lease)
            return lease
        }
    }

    /// Claims up to `limit` due, unleased entries, earliest due first.
    public func claimDue(now: Date, limit: Int, leaseFor: Duration) async throws -> [ClaimedEntry] {
        table.withLock { table in
            table.due(now: now, limit: limit).map { entry in
                let lease = QueueLease(
                    entryID: entry.id, token: QueueLease.makeToken(),
                    expiresAt: now.adding(leaseFor))
                table.setLease(lease, of: entry.id)
                return ClaimedEntry(entry: entry, lease: lease)
            }
        }
    }

    /// Extends a lease still held.
    public func renew(_ lease: QueueLease, leaseFor: Duration, now: Date) async throws -> QueueLease
    {
        try table.withLock { (table) throws(QueueStoreError) in
            _ = try table.held(by: lease)
            var renewed = lease
            renewed.expiresAt = now.adding(leaseFor)
            table.setLease(renewed, of: lease.entryID)
            return renewed
        }
    }

    /// Removes a delivered entry.
    public func complete(_ lease: QueueLease) async throws {
        try table.withLock { (table) throws(QueueStoreError) in
            _ = try table.held(by: lease)
            table.remove(lease.entryID)
        }
    }

    /// Stores a deferred entry's new bookkeeping and releases its lease.
    public func reschedule(
        _ lease: QueueLease, attempts: Int, nextAttemptAt: Date, lastReason: String?
    ) async throws {
        try table.withLock { (table) throws(QueueStoreError) in
            _ = try table.held(by: lease)
            table.reschedule(
                lease.entryID, attempts: attempts, nextAttemptAt: nextAttemptAt,
                lastReason: lastReason)
        }
    }

    /// Removes an entry given up.
    public func giveUp(_ lease: QueueLease, reason: String) async throws {
        try await complete(lease)
    }

    /// Removes and returns the entries created before `cutoff` not under a live lease.
    public func purge(createdBefore cutoff: Date, now: Date) async throws -> [QueueEntry] {
        table.withLock { table in
            let purged = table.purgeable(createdBefore: cutoff, now: now)
            for entry in purged { table.remove(entry.id) }
            return purged
        }
    }

    /// Every stored entry.
    public func list() async throws -> [QueueEntry] {
        table.withLock { $0.entries }
    }

    /// The earliest time an entry can be claimed or purged; `nil` when empty.
    public func nextDueDate(maxAge: Duration) async throws -> Date? {
        table.withLock { $0.nextDueDate(maxAge: maxAge) }
    }

    /// Makes every entry no live lease holds due at `now`.
    public func makeDue(now: Date) async throws -> Int {
        table.withLock { table in
            let later = table.notDue(now: now)
            for entry in later {
                table.reschedule(
                    entry.id, attempts: entry.attempts, nextAttemptAt: now,
                    lastReason: entry.lastReason)
            }
            return later.count
        }
    }
}
