import DirectSMTP
import DirectSMTPPostgres
import DirectSMTPTesting
import Foundation
import Testing

/// The store contract every QueueStore passes (DirectSMTPTesting's `QueueStoreContract`),
/// each check on a fresh table of a real server.
@Suite(.enabled(if: TestDatabase.isAvailable, TestDatabase.skipNote))
struct PostgresQueueStoreContractTests {
    @Test(arguments: QueueStoreContract.Check.allCases)
    func contract(_ check: QueueStoreContract.Check) async throws {
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client, prefix: "contract") { store in
                try await QueueStoreContract.run(check, on: store)
            }
        }
    }
}

/// `makeDue` (`queue run --all`): every entry due later becomes due, except one a live lease
/// holds (a send still in its transaction).
@Suite(.enabled(if: TestDatabase.isAvailable, TestDatabase.skipNote))
struct PostgresMakeDueTests {
    @Test func makeDueSkipsLiveLeases() async throws {
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client, prefix: "makedue") { store in
                let now = Date()
                var later = workerEntry(1, now: now)
                later.nextAttemptAt = now.addingTimeInterval(3600)
                try await store.enqueue(later)
                var held = workerEntry(2, now: now)
                held.nextAttemptAt = now.addingTimeInterval(3600)
                _ = try await store.enqueueLeased(held, leaseFor: .seconds(600), now: now)
                #expect(try await store.claimDue(now: now, limit: 10, leaseFor: .seconds(60)).isEmpty)
                #expect(try await store.makeDue(now: now) == 1)
                let claimed = try await store.claimDue(now: now, limit: 10, leaseFor: .seconds(60))
                #expect(claimed.map(\.entry.id) == [later.id])
                #expect(try await store.makeDue(now: now) == 0, "nothing else is due later and unleased")
            }
        }
    }
}
