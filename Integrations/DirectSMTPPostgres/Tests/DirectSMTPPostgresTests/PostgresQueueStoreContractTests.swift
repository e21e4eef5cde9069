import DirectSMTP
import DirectSMTPPostgres
import DirectSMTPTesting
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
