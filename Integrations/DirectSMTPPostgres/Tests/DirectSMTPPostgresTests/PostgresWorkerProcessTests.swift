import DirectSMTP
import DirectSMTPPostgres
import DirectSMTPTesting
import Foundation
import Testing

/// Three worker processes (directsmtp-postgres-test-worker) drain one table; in the second
/// run one of them is killed with SIGKILL in the middle.
@Suite(.enabled(if: TestDatabase.isAvailable, TestDatabase.skipNote), .serialized)
struct PostgresWorkerProcessTests {
    @Test(.timeLimit(.minutes(3)), arguments: [false, true])
    func threeProcesses(killingOne: Bool) async throws {
        let total = 2_000
        let worker = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("directsmtp-postgres-test-worker").path
        try #require(FileManager.default.isExecutableFile(atPath: worker), "no worker executable at \(worker)")
        let smtp = try MockSMTPServer.start()
        defer { smtp.stop() }
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client, prefix: "processes") { store in
                try await enqueueWorkerEntries(total, now: Date(), into: store)
                // Leases of 10 s: the killed worker's entries come back soon, and a worker
                // slowed by the machine's load still renews in time (at half the lease).
                var pids: [pid_t] = []
                for _ in 0..<3 {
                    pids.append(try spawnProcess(worker, [store.table, "\(smtp.port)", "10", "90"]))
                }
                var killedInFlight = 0
                if killingOne {
                    try await waitUntil(within: .seconds(60)) { smtp.deliveryCount >= total / 4 }
                    kill(pids[0], SIGKILL)
                    _ = try await waitForExit(pids[0])
                    killedInFlight = 8  // its queue's maxConcurrentDeliveries
                }
                let deadline = ContinuousClock.now + .seconds(120)
                while distinctMessageIDs(smtp) < total && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await Task.sleep(for: .milliseconds(500))
                for pid in pids.dropFirst(killingOne ? 1 : 0) {
                    kill(pid, SIGTERM)
                    _ = try await waitForExit(pid)
                }

                let counts = Dictionary(grouping: smtp.deliveries.map { messageID(in: $0.text) }, by: { $0 })
                    .mapValues(\.count)
                #expect(counts.count == total, "distinct messages delivered: \(counts.count) of \(total)")
                let duplicates = counts.values.reduce(0) { $0 + $1 - 1 }
                if killingOne {
                    // At least once; only what the killed worker had in flight is sent again,
                    // with the same Message-ID (counted by it).
                    #expect(duplicates <= killedInFlight, "\(duplicates) duplicates, more than the killed worker held")
                } else {
                    #expect(duplicates == 0, "delivered more than once: \(counts.filter { $0.value > 1 }.keys.sorted().prefix(10))")
                }
                #expect(try await TestDatabase.count(store.table, on: client) == 0)
            }
        }
    }
}

func distinctMessageIDs(_ smtp: MockSMTPServer) -> Int {
    Set(smtp.deliveries.map { messageID(in: $0.text) }).count
}

/// Waits until `condition` holds, polling; throws if `timeout` passes first.
func waitUntil(within timeout: Duration, _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else {
            throw POSIXError(.ETIMEDOUT)
        }
        try await Task.sleep(for: .milliseconds(50))
    }
}
