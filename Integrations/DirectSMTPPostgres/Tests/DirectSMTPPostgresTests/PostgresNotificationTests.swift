import DirectSMTP
import DirectSMTPPostgres
import Foundation
import PostgresNIO
import Synchronization
import Testing

/// `LISTEN`/`NOTIFY`: an idle worker on another connection pool learns of an enqueue at once,
/// not at its next poll.
@Suite(.enabled(if: TestDatabase.isAvailable, TestDatabase.skipNote))
struct PostgresNotificationTests {
    @Test func anEnqueueWakesAListenerOnAnotherPool() async throws {
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client, pollInterval: .seconds(600)) { store in
                try await TestDatabase.withClient { otherClient in
                    let listening = try PostgresQueueStore(client: otherClient, configuration: store.configuration)
                    try await countingWakeUps(listening.dueNotifications()) { wakeUps in
                        // The first yield says "listening": nothing sent before can be relied on.
                        #expect(await wakeUps.wait(until: 1, within: .seconds(10)))
                        try await store.enqueue(sampleEntry("wake"))
                        #expect(await wakeUps.wait(until: 2, within: .seconds(5)), "no wake-up within 5 s of the enqueue")
                    }
                }
            }
        }
    }

    @Test func aBurstOfEnqueuesSendsFewNotificationsButWakesListeners() async throws {
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client, pollInterval: .seconds(600)) { store in
                try await countingWakeUps(store.dueNotifications()) { wakeUps in
                    #expect(await wakeUps.wait(until: 1, within: .seconds(10)))
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for index in 0..<200 {
                            group.addTask { try await store.enqueue(sampleEntry("burst-\(index)")) }
                        }
                        try await group.waitForAll()
                    }
                    #expect(await wakeUps.wait(until: 2, within: .seconds(5)))
                    #expect(try await store.list().count == 200)
                }
            }
        }
    }

    @Test func withoutNotificationsTheStreamStillPolls() async throws {
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client, pollInterval: .milliseconds(200)) { store in
                try await countingWakeUps(store.dueNotifications()) { wakeUps in
                    #expect(await wakeUps.wait(until: 4, within: .seconds(10)))
                }
            }
        }
    }
}

/// Counts what a wake-up stream yields, while `body` runs.
func countingWakeUps<Result: Sendable>(
    _ stream: AsyncStream<Void>, _ body: @Sendable (WakeUpCount) async throws -> Result
) async throws -> Result {
    let count = WakeUpCount()
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            for await _ in stream { count.add() }
        }
        defer { group.cancelAll() }
        return try await body(count)
    }
}

/// The number of wake-ups seen so far.
final class WakeUpCount: Sendable {
    private let value = Mutex(0)

    func add() { value.withLock { $0 += 1 } }

    var current: Int { value.withLock { $0 } }

    /// Waits until at least `target` wake-ups were seen; false if `timeout` passed first.
    func wait(until target: Int, within timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while current < target {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }
}
