import DirectSMTP
import Metrics

/// DirectSMTP's observer hooks as swift-metrics:
/// - `directsmtp_attempts{kind, status, reason}`: attempts by outcome (a counter);
/// - `directsmtp_attempt_duration{kind}`: their latency (a timer);
/// - `directsmtp_attempts_in_flight{kind}`: attempts running now (a meter);
/// - `directsmtp_late_finals{status, reason}`: transactions that ended after their
///   send had answered `deferred(budget-exceeded)`;
/// - `directsmtp_queue_events{event}`: queue events (a counter).
public struct DeliveryMetricsObserver: DeliveryObserver {
    private let factory: any MetricsFactory
    /// One meter per kind, made once: a meter counts up and down, so it must be the same.
    private let inFlight: [AttemptKind: Meter]

    /// Records to `factory` (by default the backend `MetricsSystem` was bootstrapped with).
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        inFlight = Dictionary(
            uniqueKeysWithValues: AttemptKind.allCases.map { kind in
                (
                    kind,
                    Meter(
                        label: "directsmtp_attempts_in_flight", dimensions: [("kind", kind.rawValue)],
                        factory: factory)
                )
            })
    }

    public func attemptStarted(_ attempt: AttemptStarted) {
        inFlight[attempt.kind]?.increment()
    }

    public func attemptFinished(_ attempt: AttemptFinished) {
        let outcome = attempt.outcome
        if attempt.isLateFinal {
            Counter(
                label: "directsmtp_late_finals",
                dimensions: [("status", outcome.status.rawValue), ("reason", outcome.reason.rawValue)],
                factory: factory
            ).increment()
            return
        }
        inFlight[attempt.kind]?.decrement()
        Counter(
            label: "directsmtp_attempts",
            dimensions: [
                ("kind", attempt.kind.rawValue), ("status", outcome.status.rawValue),
                ("reason", outcome.reason.rawValue),
            ],
            factory: factory
        ).increment()
        Metrics.Timer(
            label: "directsmtp_attempt_duration", dimensions: [("kind", attempt.kind.rawValue)],
            factory: factory
        ).recordNanoseconds(Self.nanoseconds(outcome.elapsed))
    }

    public func queueActivity(_ activity: QueueActivity) {
        Counter(
            label: "directsmtp_queue_events", dimensions: [("event", activity.kind.rawValue)],
            factory: factory
        ).increment()
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let parts = duration.components
        return parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000
    }
}
