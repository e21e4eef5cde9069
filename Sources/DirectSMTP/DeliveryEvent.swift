/// The final outcome of a send whose call returned before its SMTP transaction ended
/// (`deferred(budget-exceeded)`), published on ``VerificationCoordinator/events``.
///
/// ```swift
/// Task {
///     for await event in coordinator.events {
///         await users.markEmail(event.messageID, event.outcome.status)
///     }
/// }
/// ```
public struct DeliveryEvent: Sendable, Hashable {
    /// The Message-ID of the message concerned.
    public var messageID: String
    /// The real outcome; `queued` is true when it was deferred and went into the queue.
    public var outcome: VerificationOutcome

    /// An event from its parts.
    public init(messageID: String, outcome: VerificationOutcome) {
        self.messageID = messageID
        self.outcome = outcome
    }
}
