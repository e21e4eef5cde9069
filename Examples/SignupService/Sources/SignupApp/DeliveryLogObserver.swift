import DirectSMTP
import Foundation
import Logging

/// DirectSMTP's observer hooks as swift-log lines with structured metadata: every attempt
/// (kind, status, reason, scenario, MX host, reply code, elapsed and DNS time, queued)
/// and every queue event. The recipient appears by its domain only; the library hands an
/// observer no message body and no credentials, so none can be logged.
public struct DeliveryLogObserver: DeliveryObserver {
    let logger: Logger

    /// Logs to `logger`: outcomes and queue events at `info`, starts at `debug`, store
    /// failures at `error`.
    public init(logger: Logger) {
        self.logger = logger
    }

    public func attemptStarted(_ attempt: AttemptStarted) {
        logger.debug(
            "mail attempt started",
            metadata: [
                "kind": "\(attempt.kind.rawValue)", "domain": "\(attempt.recipientDomain)",
                "message_id": "\(attempt.messageID ?? "-")",
                "budget_ms": "\(Self.milliseconds(attempt.budget))",
            ])
    }

    public func attemptFinished(_ attempt: AttemptFinished) {
        let outcome = attempt.outcome
        logger.info(
            attempt.isLateFinal ? "mail transaction finished after its budget" : "mail attempt finished",
            metadata: [
                "kind": "\(attempt.kind.rawValue)",
                "status": "\(outcome.status.rawValue)",
                "reason": "\(outcome.reason.rawValue)",
                "scenario": "\(outcome.scenario)",
                "domain": "\(Self.domain(of: outcome.address))",
                "mx": "\(outcome.mx?.host ?? "-")",
                "reply": "\(outcome.reply.map { String($0.code) } ?? "-")",
                "elapsed_ms": "\(Self.milliseconds(outcome.elapsed))",
                "dns_ms": "\(outcome.dnsDuration.map(Self.milliseconds) ?? "-")",
                "queued": "\(outcome.queued)",
                "from_cache": "\(outcome.fromCache)",
                "message_id": "\(outcome.messageID ?? "-")",
            ])
    }

    public func queueActivity(_ activity: QueueActivity) {
        var metadata: Logger.Metadata = ["event": "\(activity.kind.rawValue)"]
        if !activity.entryID.isEmpty { metadata["entry"] = "\(activity.entryID)" }
        if let id = activity.messageID { metadata["message_id"] = "\(id)" }
        if let domain = activity.recipientDomain { metadata["domain"] = "\(domain)" }
        if let attempts = activity.attempts { metadata["attempts"] = "\(attempts)" }
        if let reason = activity.reason { metadata["reason"] = "\(reason)" }
        if let next = activity.nextAttemptAt {
            metadata["next_attempt"] = "\(ISO8601DateFormatter().string(from: next))"
        }
        if let age = activity.age { metadata["age_s"] = "\(Int(age.components.seconds))" }
        if let detail = activity.detail { metadata["error"] = "\(detail)" }
        if activity.kind == .storeFailed {
            logger.error("delivery queue store failed", metadata: metadata)
        } else {
            logger.info("delivery queue \(activity.kind.rawValue)", metadata: metadata)
        }
    }

    static func domain(of address: String) -> Substring {
        address.lastIndex(of: "@").map { address[address.index(after: $0)...] } ?? "?"
    }

    static func milliseconds(_ duration: Duration) -> String {
        String(format: "%.1f", duration.seconds * 1000)
    }
}
