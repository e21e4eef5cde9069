import Foundation
import Logging
import Metrics

/// Sends what the mailer and the sign-ups do to swift-log (structured metadata) and
/// swift-metrics. Never the message body, the code or credentials: the logs name a
/// recipient by its domain and a sign-up by its id.
public struct MailObserver: Sendable {
    let logger: Logger
    private let metrics: any MetricsFactory
    private let sendTimer: Metrics.Timer

    /// Creates the observer; metrics go to `metrics`, by default whatever backend
    /// `MetricsSystem` was bootstrapped with.
    public init(logger: Logger, metrics: any MetricsFactory = MetricsSystem.factory) {
        self.logger = logger
        self.metrics = metrics
        sendTimer = Metrics.Timer(label: "signup_mail_send_duration", factory: metrics)
    }

    /// One send's outcome: a log line, the outcome counter, the latency timer.
    func sent(_ report: SendReport, signupID: String, email: String) {
        logger.info(
            "verification email \(report.verdict.rawValue)",
            metadata: [
                "signup": "\(signupID)",
                "domain": "\(Self.domain(of: email))",
                "outcome": "\(report.verdict.rawValue)",
                "reason": "\(report.reason)",
                "scenario": "\(report.scenario)",
                "mx": "\(report.mxHost ?? "-")",
                "elapsed_ms": "\(Self.milliseconds(report.elapsed))",
                "queued": "\(report.queued)",
            ])
        Counter(
            label: "signup_mail_outcomes",
            dimensions: [("outcome", report.verdict.rawValue), ("reason", report.reason)],
            factory: metrics
        ).increment()
        sendTimer.recordNanoseconds(Self.nanoseconds(report.elapsed))
    }

    /// A queue happening.
    func queueEvent(_ event: MailerEvent) {
        let name: String
        var metadata: Logger.Metadata = [:]
        switch event {
        case .queued(let id, let reason):
            name = "queued"
            metadata = ["message_id": "\(id)", "reason": "\(reason)"]
        case .delivered(let id):
            name = "delivered"
            metadata = ["message_id": "\(id)"]
        case .retryScheduled(let id, let reason, let next):
            name = "retry-scheduled"
            metadata = [
                "message_id": "\(id)", "reason": "\(reason)",
                "next_attempt": "\(next.timeIntervalSince1970)",
            ]
        case .gaveUp(let id, let reason):
            name = "gave-up"
            metadata = ["message_id": "\(id)", "reason": "\(reason)"]
        case .storeFailed(let message):
            name = "store-failed"
            metadata = ["error": "\(message)"]
        }
        metadata["event"] = "\(name)"
        if case .storeFailed = event {
            logger.error("delivery queue store failed", metadata: metadata)
        } else {
            logger.info("delivery queue \(name)", metadata: metadata)
        }
        Counter(label: "signup_queue_events", dimensions: [("event", name)], factory: metrics)
            .increment()
    }

    /// A pending sign-up removed: expired, or its message given up.
    func purged(_ signup: PendingSignup, reason: String) {
        logger.notice(
            "pending sign-up removed",
            metadata: [
                "signup": "\(signup.id)", "domain": "\(Self.domain(of: signup.email))",
                "reason": "\(reason)",
            ])
        Counter(
            label: "signup_pending_removed", dimensions: [("reason", reason)], factory: metrics
        ).increment()
    }

    /// A sign-up completed.
    func verified(_ signup: PendingSignup) {
        logger.info("sign-up verified", metadata: ["signup": "\(signup.id)"])
        Counter(label: "signup_verified", factory: metrics).increment()
    }

    /// The database failed.
    func storeFailed(_ error: any Error) {
        logger.error("sign-up store failed", metadata: ["error": "\(String(describing: error))"])
        Counter(label: "signup_store_failures", factory: metrics).increment()
    }

    static func domain(of email: String) -> Substring {
        email.lastIndex(of: "@").map { email[email.index(after: $0)...] } ?? "?"
    }

    static func milliseconds(_ duration: Duration) -> String {
        String(format: "%.1f", duration.seconds * 1000)
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let parts = duration.components
        return parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000
    }
}
