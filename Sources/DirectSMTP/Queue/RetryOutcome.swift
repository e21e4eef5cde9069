/// What one re-send of a queued entry ended in; the `deliver` closure given to
/// ``DeliveryQueue`` returns it.
public enum RetryOutcome: Sendable, Hashable {
    /// The server accepted the message (250 after the final dot). The entry leaves the queue.
    case delivered
    /// A terminal failure (an ``OutcomeReason`` raw value such as `"recipient-rejected"`).
    /// The entry leaves the queue and is never retried.
    case rejected(reason: String)
    /// Still inconclusive (for example `"temporary-failure"` after a greylisting 450). The
    /// entry stays and the next try is scheduled.
    case deferred(reason: String)
}
