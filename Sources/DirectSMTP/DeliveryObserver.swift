/// Watches what a ``VerificationCoordinator`` does, for logs and metrics: each attempt as
/// it starts and finishes, and what happens to queued messages. Set one in
/// ``VerificationCoordinator/Configuration/observer``; the library has no logging or
/// metrics dependency of its own, so an adapter of a few lines connects it to swift-log,
/// swift-metrics or anything else.
///
/// ```swift
/// struct PrintObserver: DeliveryObserver {
///     func attemptFinished(_ attempt: AttemptFinished) {
///         let outcome = attempt.outcome
///         print(attempt.kind, outcome.status, outcome.reason, outcome.mx?.host ?? "-", outcome.elapsed)
///     }
///     func queueActivity(_ activity: QueueActivity) {
///         print("queue", activity.kind, activity.recipientDomain ?? "-", activity.reason ?? "")
///     }
/// }
/// configuration.observer = PrintObserver()
/// ```
///
/// What an observer gets never holds a message body, a credential or anything of a
/// message's text (a verification code, say): outcomes carry the SMTP commands and
/// replies of their transcript, with the message itself reduced to its size, and queue
/// activity names a message by its Message-ID. An outcome does carry the full recipient
/// address; log ``VerificationOutcome/address`` only where addresses may be kept.
///
/// Each method is called on the task doing the work, synchronously, and must return
/// quickly (hand the value to a logger or a counter; never wait on I/O). Every method has
/// a default that does nothing: implement only those you need.
public protocol DeliveryObserver: Sendable {
    /// A `send`, `probe` or queue re-send began (before any DNS or SMTP traffic).
    func attemptStarted(_ attempt: AttemptStarted)
    /// A `send`, `probe` or queue re-send ended with an outcome. For a send that returned
    /// `deferred(budget-exceeded)` while its transaction went on, this comes twice: once
    /// when the call returns, and once with the transaction's real outcome
    /// (``AttemptFinished/isLateFinal``), while ``VerificationCoordinator/run()`` runs.
    func attemptFinished(_ attempt: AttemptFinished)
    /// Something happened to a queued message: stored, delivered, rejected, rescheduled,
    /// expired, or a store failure.
    func queueActivity(_ activity: QueueActivity)
}

extension DeliveryObserver {
    /// Does nothing.
    public func attemptStarted(_ attempt: AttemptStarted) {}
    /// Does nothing.
    public func attemptFinished(_ attempt: AttemptFinished) {}
    /// Does nothing.
    public func queueActivity(_ activity: QueueActivity) {}
}
