import DirectSMTPTesting
import Testing

@testable import DirectSMTP

@Suite("Queue stores: the lease contract")
struct QueueStoreContractTests {
    @Test("the in-memory store keeps the contract", arguments: QueueStoreContract.Check.allCases)
    func inMemory(_ check: QueueStoreContract.Check) async throws {
        try await QueueStoreContract.run(check, on: InMemoryQueueStore())
    }
}
