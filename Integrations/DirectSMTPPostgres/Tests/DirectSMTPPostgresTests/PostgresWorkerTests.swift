import DirectSMTP
import DirectSMTPPostgres
import DirectSMTPTesting
import Foundation
import PostgresNIO
import Testing

/// Several app servers, one table: three `DeliveryQueue`s, each on its own connection pool,
/// drain one queue table against a mock SMTP server.
@Suite(.enabled(if: TestDatabase.isAvailable, TestDatabase.skipNote))
struct PostgresWorkerTests {
    @Test(.timeLimit(.minutes(3)))
    func threeWorkersDeliverEveryEntryExactlyOnce() async throws {
        let total = 2_000
        let smtp = try MockSMTPServer.start()
        defer { smtp.stop() }
        // Address literals ([127.0.0.1]) need no DNS; the mock listens on the port given.
        var mail = VerificationCoordinator.Configuration(heloName: "worker.directsmtp.test", smtpPort: smtp.port)
        mail.refusesNonPublicAddresses = false  // the mock SMTP server is on loopback
        let coordinator = try VerificationCoordinator(configuration: mail)
        try await TestDatabase.withClient { setup in
            try await TestDatabase.withFreshStore(setup, prefix: "workers") { store in
                try await enqueueWorkerEntries(total, now: Date(), into: store)
                #expect(try await TestDatabase.count(store.table, on: setup) == total)

                let deadline = ContinuousClock.now + .seconds(120)
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<3 {
                        group.addTask {
                            // Each worker: its own pool (4 connections), its own queue.
                            _ = try? await TestDatabase.withClient(maximumConnections: 4) { client in
                                let workerStore = try PostgresQueueStore(client: client, configuration: store.configuration)
                                let queue = DeliveryQueue(
                                    store: workerStore,
                                    limits: .init(maxConcurrentDeliveries: 16, maxConcurrentPerDomain: 16),
                                    leaseDuration: .seconds(60))
                                await queue.run { entry in await coordinator.redeliver(entry) }
                            }
                        }
                    }
                    while smtp.deliveryCount < total && ContinuousClock.now < deadline {
                        try? await Task.sleep(for: .milliseconds(50))
                    }
                    // Let a duplicate, if any, show up before stopping.
                    try? await Task.sleep(for: .milliseconds(500))
                    group.cancelAll()
                }

                let byMessageID = Dictionary(grouping: smtp.deliveries.map { messageID(in: $0.text) }, by: { $0 })
                #expect(byMessageID.count == total, "distinct messages delivered: \(byMessageID.count) of \(total)")
                let twice = byMessageID.filter { $0.value.count > 1 }.keys.sorted()
                #expect(twice.isEmpty, "delivered more than once: \(twice.prefix(10))")
                #expect(try await TestDatabase.count(store.table, on: setup) == 0)
            }
        }
    }
}

/// Entry `index` of the worker test: to an address literal, due at once.
/// Stores `total` worker entries from 8 concurrent callers, as 8 app servers would.
func enqueueWorkerEntries(_ total: Int, now: Date, into store: PostgresQueueStore) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for caller in 0..<8 {
            group.addTask {
                for index in stride(from: caller, to: total, by: 8) {
                    try await store.enqueue(workerEntry(index, now: now))
                }
            }
        }
        try await group.waitForAll()
    }
}

func workerEntry(_ index: Int, now: Date) -> QueueEntry {
    let id = "w-\(index)"
    let text = "From: noreply@example.org\r\nTo: user-\(index)@[127.0.0.1]\r\nSubject: code\r\nMessage-ID: <\(id)@workers.test>\r\n\r\n123456\r\n"
    return QueueEntry(
        id: id, from: "noreply@example.org", to: "user-\(index)@[127.0.0.1]", data: Array(text.utf8),
        messageID: "<\(id)@workers.test>", createdAt: now, nextAttemptAt: now, lastReason: "temporary-failure")
}

/// The Message-ID header's value in a delivered message ("" if none).
func messageID(in text: String) -> String {
    for line in text.split(separator: "\r\n") where line.lowercased().hasPrefix("message-id:") {
        return line.dropFirst("message-id:".count).trimmingCharacters(in: .whitespaces)
    }
    return ""
}
