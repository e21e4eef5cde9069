import Foundation

/// A claim on one queue entry, held by one worker until ``expiresAt``.
///
/// ``token`` is unique per claim. A store acts on ``QueueStore/complete(_:)``,
/// ``QueueStore/reschedule(_:attempts:nextAttemptAt:lastReason:)``,
/// ``QueueStore/giveUp(_:reason:)`` and ``QueueStore/renew(_:leaseFor:now:)`` only while
/// the entry's current lease token equals it. This is fencing: once a lease has expired and
/// another worker has claimed the entry, the first worker can no longer touch it, and gets
/// a ``QueueStoreError`` with code ``QueueStoreError/Code/leaseLost``.
public struct QueueLease: Sendable, Hashable, Codable {
    /// The leased entry's identifier.
    public var entryID: String
    /// This claim's unique token.
    public var token: String
    /// When the lease ends; after it, another worker may claim the entry.
    public var expiresAt: Date

    /// Creates a lease (stores do; workers get theirs from a claim).
    public init(entryID: String, token: String, expiresAt: Date) {
        self.entryID = entryID
        self.token = token
        self.expiresAt = expiresAt
    }

    /// A fresh random token (a lower-case UUID).
    public static func makeToken() -> String {
        UUID().uuidString.lowercased()
    }
}

/// An entry claimed from a store, with the lease that lets its holder settle it.
public struct ClaimedEntry: Sendable, Hashable {
    /// The entry as stored when it was claimed.
    public var entry: QueueEntry
    /// The lease the claim holds.
    public var lease: QueueLease

    /// Pairs an entry with its lease.
    public init(entry: QueueEntry, lease: QueueLease) {
        self.entry = entry
        self.lease = lease
    }
}

extension Date {
    /// `self` plus `duration` (negative durations count as zero).
    func adding(_ duration: Duration) -> Date {
        addingTimeInterval(max(duration.queueSeconds, 0))
    }
}
