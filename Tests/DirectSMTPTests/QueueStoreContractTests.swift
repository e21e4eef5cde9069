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

@Suite("Queue stores: the journal keeps the lease contract")
struct QueueJournalContractTests {
    @Test(
        "the journal store keeps the contract", .timeLimit(.minutes(1)),
        arguments: QueueStoreContract.Check.allCases)
    func journal(_ check: QueueStoreContract.Check) async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        let store = try await FileJournalQueueStore.open(path: path)
        try await QueueStoreContract.run(check, on: store)
        // What the check left, read back from the file by a fresh store.
        let left = Set(try await store.list())
        await store.close()
        let reopened = try await FileJournalQueueStore.open(path: path)
        #expect(reopened.recovery.isClean, "\(reopened.recovery)")
        #expect(Set(try await reopened.list()) == left)
        await reopened.close()
    }
}
