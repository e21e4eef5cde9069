import Foundation
import Logging
import MetricsTestKit
import SignupApp
import Synchronization
import Testing

/// What the logs and metrics see: every outcome with its reason, scenario, MX host and
/// elapsed time; never the code or the message body.
@Suite struct ObservabilityTests {
    @Test func outcomesAndQueueEventsAreLoggedAndCountedWithoutTheCode() async throws {
        let service = try TestService()
        let records = LogRecords()
        let metrics = TestMetrics()
        var logger = Logger(label: "signup-test") { _ in CapturingLogHandler(records: records) }
        logger.logLevel = .trace
        try await service.run(logger: logger, metrics: metrics) { _, client in
            let (_, page) = try await client.postForm("/signup", ["email": "jane@example.test"])
            _ = try await client.postForm("/signup", ["email": "nobody@example.test"])
            _ = try await client.postForm("/signup", ["email": "jane@dns-down.test"])
            let code = try #require(service.world.lastCode(for: "jane@example.test"))
            _ = try await client.postForm("/verify", ["id": try #require(signupID(in: page)), "code": code])
            #expect(await eventually { records.all.contains { $0.message == "delivery queue enqueued" } })
            let lines = records.all
            // The library's attempt line (DeliveryLogObserver) and the sign-up's line
            // (MailObserver), tied by the Message-ID.
            let attempt = try #require(lines.first {
                $0.message == "mail attempt finished" && $0.metadata["reason"] == "accepted"
            })
            #expect(attempt.metadata["kind"] == "send")
            #expect(attempt.metadata["scenario"] == "6")
            #expect(attempt.metadata["mx"] == "mx.example.test")
            #expect(attempt.metadata["reply"] == "250")
            #expect(attempt.metadata["elapsed_ms"] != nil)
            #expect(attempt.metadata["domain"] == "example.test")
            let signupLine = try #require(lines.first { $0.message == "verification email accepted" })
            #expect(signupLine.metadata["message_id"] == attempt.metadata["message_id"])
            let queued = try #require(lines.first { $0.message == "delivery queue enqueued" })
            #expect(queued.metadata["domain"] == "dns-down.test")
            #expect(queued.metadata["reason"] == "dns-unavailable")
            #expect(lines.contains { $0.metadata["reason"] == "recipient-rejected" && $0.metadata["scenario"] == "5" })
            #expect(lines.contains { $0.metadata["reason"] == "dns-unavailable" && $0.metadata["mx"] == "-" })
            #expect(lines.contains { $0.message == "sign-up verified" })
            for line in lines {
                let text = line.message + " " + line.metadata.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                #expect(!text.contains(code), "the code leaked: \(text)")
                #expect(!text.contains("Your sign-up code"), "the body leaked: \(text)")
            }
            #expect(try metrics.expectCounter("signup_mail_outcomes", [("outcome", "accepted"), ("reason", "accepted")]).totalValue == 1)
            #expect(try metrics.expectCounter("signup_mail_outcomes", [("outcome", "terminal"), ("reason", "recipient-rejected")]).totalValue == 1)
            #expect(try metrics.expectCounter("signup_mail_outcomes", [("outcome", "inconclusive"), ("reason", "dns-unavailable")]).totalValue == 1)
            #expect(try metrics.expectCounter("signup_verified").totalValue == 1)
            #expect(try metrics.expectCounter("directsmtp_queue_events", [("event", "enqueued")]).totalValue == 1)
            #expect(try metrics.expectCounter(
                "directsmtp_attempts", [("kind", "send"), ("status", "rejected"), ("reason", "recipient-rejected")]
            ).totalValue == 1)
            #expect(try metrics.expectTimer("directsmtp_attempt_duration", [("kind", "send")]).values.count == 3)
            #expect(try metrics.expectMeter("directsmtp_attempts_in_flight", [("kind", "send")]).lastValue == 0)
        }
    }
}

/// Log lines kept in memory.
final class LogRecords: Sendable {
    struct Record: Sendable {
        var message: String
        var metadata: [String: String]
    }

    private let records = Mutex<[Record]>([])

    var all: [Record] { records.withLock { $0 } }

    func append(_ record: Record) { records.withLock { $0.append(record) } }
}

/// A log handler that keeps every line, metadata flattened to text.
struct CapturingLogHandler: LogHandler {
    let records: LogRecords
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        records.append(
            .init(message: event.message.description, metadata: merged.mapValues { "\($0)" }))
    }
}
