import Foundation
import Logging
import Metrics

/// Logs and counts what the sign-ups do: which sign-up a verification email belongs to
/// (its Message-ID ties it to the library's own attempt and queue lines, which
/// ``DeliveryLogObserver`` and ``DeliveryMetricsObserver`` write), verifications and
/// removals. Never the message body, the code or credentials: a sign-up appears by its id
/// and its address by the domain.
public struct MailObserver: Sendable {
    let logger: Logger
    private let metrics: any MetricsFactory

    /// Creates the observer; metrics go to `metrics`, by default whatever backend
    /// `MetricsSystem` was bootstrapped with.
    public init(logger: Logger, metrics: any MetricsFactory = MetricsSystem.factory) {
        self.logger = logger
        self.metrics = metrics
    }

    /// One code's email sent: what it means for the sign-up, and the outcome counter.
    func sent(_ report: SendReport, signupID: String, messageID: String) {
        logger.info(
            "verification email \(report.verdict.rawValue)",
            metadata: [
                "signup": "\(signupID)",
                "message_id": "\(messageID)",
                "outcome": "\(report.verdict.rawValue)",
                "reason": "\(report.reason)",
                "queued": "\(report.queued)",
            ])
        Counter(
            label: "signup_mail_outcomes",
            dimensions: [("outcome", report.verdict.rawValue), ("reason", report.reason)],
            factory: metrics
        ).increment()
    }

    /// A pending sign-up removed: expired, or its message given up.
    func purged(_ signup: PendingSignup, reason: String) {
        logger.notice(
            "pending sign-up removed",
            metadata: [
                "signup": "\(signup.id)", "domain": "\(DeliveryLogObserver.domain(of: signup.email))",
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
}
