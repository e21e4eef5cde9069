import Foundation

/// What happened to a queued entry; ``DeliveryQueue/events`` reports them in order.
public enum QueueEvent: Sendable, Hashable {
    /// The entry was stored durably.
    case enqueued(QueueEntry)
    /// A retry was accepted by the server; the entry left the queue. `attempts` counts it.
    case delivered(QueueEntry)
    /// A retry ended in a terminal failure; the entry left the queue and is never retried.
    case rejected(QueueEntry, reason: String)
    /// A retry was deferred again; the next one is due at `at`.
    case retryScheduled(QueueEntry, at: Date, reason: String)
    /// The entry grew older than the maximum age and was purged undelivered.
    case expired(QueueEntry)
    /// The store failed while recording an entry's new state (the message text says
    /// what). The store keeps what it last recorded: the queue tries the change again
    /// before its next pass while its lease holds the entry; if the lease expires first,
    /// the entry may be retried once more, which the at-least-once guarantee allows.
    /// `entryID` is empty when the failure concerns the whole store (claiming or
    /// purging failed; the background runner tries again a minute later).
    case storeFailed(entryID: String, message: String)

    /// The identifier of the entry the event is about.
    public var entryID: String {
        switch self {
        case .enqueued(let entry), .delivered(let entry), .expired(let entry):
            return entry.id
        case .rejected(let entry, _), .retryScheduled(let entry, _, _):
            return entry.id
        case .storeFailed(let id, _):
            return id
        }
    }
}
