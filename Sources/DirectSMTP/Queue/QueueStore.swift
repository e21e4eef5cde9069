import Foundation

/// Where the delivery queue keeps its entries, and how workers share them: by leases.
///
/// DirectSMTP ships two stores: ``InMemoryQueueStore`` (tests; nothing survives the
/// process) and ``FileJournalQueueStore`` (the default durable store: an append-only,
/// checksummed journal file, safe for several processes on one machine). An application
/// can plug its own, for example a database table shared by several app servers.
/// `DirectSMTPTesting`'s `QueueStoreContract` checks a store against this contract.
///
/// ## Contract
/// - Writes are durable before they return (as durable as the store can make them):
///   ``DeliveryQueue/enqueue(_:)`` relies on it before a sign-up page says "the code is on
///   its way".
/// - Whoever holds an entry's lease works it; nobody else claims it until the lease
///   expires. ``claimDue(now:limit:leaseFor:)`` hands out due entries with fresh leases,
///   earliest ``QueueEntry/nextAttemptAt`` first; two concurrent claims never get the same
///   entry while its lease is live.
/// - A lease acts only while its token is the entry's current one (``QueueLease``):
///   ``complete(_:)``, ``reschedule(_:attempts:nextAttemptAt:lastReason:)``,
///   ``giveUp(_:reason:)`` and ``renew(_:leaseFor:now:)`` with any other token, or for an
///   entry no longer stored, throw code ``QueueStoreError/Code/leaseLost`` and change
///   nothing. A lease whose expiry has passed still acts as long as nobody has claimed the
///   entry since.
/// - ``enqueue(_:)`` or ``enqueueLeased(_:leaseFor:now:)`` of an identifier already stored
///   throws code ``QueueStoreError/Code/duplicateID``.
/// - Times come from the caller (`now:`), never from the store's own clock, so every
///   worker and test agrees on what is due and what has expired.
///
/// ## Delivery guarantee: at least once
/// A message is removed from the store only after the server answered 250 to it. If the
/// worker dies between that 250 and the removal reaching the disk, or its lease expires
/// while its transaction still runs, the entry comes back (after a restart, or when its
/// lease expires) and is sent again: the recipient gets the message twice. Both copies
/// carry the same `Message-ID` (``QueueEntry/messageID``), which is how a duplicate is
/// recognised (mail clients and many servers fold them). No store can do better without
/// the receiving server's help; none loses an acknowledged entry.
public protocol QueueStore: Sendable {
    /// Stores a new entry, not leased; durable before it returns. Duplicate id →
    /// `duplicate-id`.
    func enqueue(_ entry: QueueEntry) async throws
    /// Stores a new entry already leased by the caller (a send whose budget ended
    /// mid-transaction: nobody else may retry it before the lease expires); durable before
    /// it returns.
    func enqueueLeased(_ entry: QueueEntry, leaseFor: Duration, now: Date) async throws
        -> QueueLease
    /// Claims at most `limit` entries with `nextAttemptAt <= now` that are not leased (or
    /// whose lease expired), earliest `nextAttemptAt` first, each with a fresh lease until
    /// `now + leaseFor`.
    func claimDue(now: Date, limit: Int, leaseFor: Duration) async throws -> [ClaimedEntry]
    /// Extends a lease still held, to `now + leaseFor`.
    func renew(_ lease: QueueLease, leaseFor: Duration, now: Date) async throws -> QueueLease
    /// Delivered: removes the entry.
    func complete(_ lease: QueueLease) async throws
    /// Deferred again: stores `attempts`, `nextAttemptAt` and `lastReason`, and releases
    /// the lease.
    func reschedule(_ lease: QueueLease, attempts: Int, nextAttemptAt: Date, lastReason: String?)
        async throws
    /// Rejected for good or expired: removes the entry.
    func giveUp(_ lease: QueueLease, reason: String) async throws
    /// Removes the entries created before `cutoff` that are not under a live lease (one
    /// expiring after `now`); returns them.
    func purge(createdBefore cutoff: Date, now: Date) async throws -> [QueueEntry]
    /// Every stored entry (leased or not), for `queue list` and operators.
    func list() async throws -> [QueueEntry]
    /// The earliest time a worker has something to do with an entry: claim it (at its
    /// ``QueueEntry/nextAttemptAt``) or purge it (once older than `maxAge`), whichever
    /// comes first, and for a leased entry no earlier than its lease's expiry. A date in
    /// the past when something is to do now; `nil` when the store is empty.
    /// ``DeliveryQueue`` asks before every sleep, so a store answers from an index,
    /// without reading the entries.
    func nextDueDate(maxAge: Duration) async throws -> Date?
}

extension QueueStore {
    /// The earliest due time or expiry of all entries, from ``list()``: reads every entry
    /// (message bytes included) on each call, so a store holding many entries should
    /// answer from an index instead. It cannot see leases, so an entry leased past its due
    /// time counts as due: the queue then looks again each second until the lease ends.
    public func nextDueDate(maxAge: Duration) async throws -> Date? {
        try await list().lazy.map {
            min($0.nextAttemptAt, $0.createdAt.addingTimeInterval(maxAge.queueSeconds))
        }.min()
    }
}

/// A store that can say when something may have become due (for example PostgreSQL's
/// `LISTEN`/`NOTIFY`): ``DeliveryQueue`` then claims at once instead of waiting for its
/// next scheduled look.
public protocol QueueStoreNotifying: QueueStore {
    /// Yields whenever an entry was stored or released that may be due now.
    func dueNotifications() -> AsyncStream<Void>
}

/// A store that can make every entry no live lease holds due at once: an operator's
/// "retry everything now" (`directsmtp queue run --all`, ``DeliveryQueue/runAll(deliveringWith:)``).
public protocol QueueStoreMakingDue: QueueStore {
    /// Sets ``QueueEntry/nextAttemptAt`` to `now` for every entry due later that is not
    /// under a live lease; returns how many changed.
    func makeDue(now: Date) async throws -> Int
}
