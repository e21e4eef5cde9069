import Foundation
import Testing

@testable import DirectSMTP

@Suite("Queue: file journal store")
struct QueueJournalTests {
    @Test("enqueue, reschedule, complete survive a reopen", .timeLimit(.minutes(1)))
    func roundTrip() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        let store = try await FileJournalQueueStore.open(path: path)
        #expect(store.recovery.isClean)
        #expect(store.recovery.recordCount == 0)
        var first = QueueTestSupport.entry(id: "one")
        let second = QueueTestSupport.entry(id: "two", to: "other@example.net")
        try await store.enqueue(first)
        try await store.enqueue(second)
        // A retry of "one" deferred again: claimed (the earliest id among equals), rescheduled.
        let claimed = try await store.claimDue(
            now: first.nextAttemptAt, limit: 1, leaseFor: .seconds(60))
        #expect(claimed.map(\.entry.id) == ["one"])
        first.attempts = 2
        first.lastReason = "no-reachable-host"
        try await store.reschedule(
            claimed[0].lease, attempts: 2, nextAttemptAt: first.nextAttemptAt,
            lastReason: "no-reachable-host")
        let three = try await store.enqueueLeased(
            QueueTestSupport.entry(id: "three"), leaseFor: .seconds(60), now: QueueTestSupport.epoch
        )
        try await store.complete(three)
        let stranger = QueueLease(entryID: "never-there", token: "t", expiresAt: .distantFuture)
        await #expect(throws: QueueStoreError.self) { try await store.complete(stranger) }
        await #expect(
            throws: QueueStoreError(.duplicateID, "an entry with id two is already stored")
        ) {
            try await store.enqueue(second)
        }
        await store.close()
        await #expect(throws: QueueStoreError.self) { try await store.list() }

        let reopened = try await FileJournalQueueStore.open(path: path)
        #expect(reopened.recovery.isClean)
        // add, add, lease, reschedule, add leased, remove.
        #expect(reopened.recovery.recordCount == 6)
        let loaded = try await reopened.list().sorted { $0.id < $1.id }
        #expect(loaded == [first, second])
        // The file is private to its owner.
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        await reopened.close()
    }

    @Test("many concurrent adds share syncs and all come back", .timeLimit(.minutes(1)))
    func groupCommit() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        let store = try await FileJournalQueueStore.open(path: path)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<300 {
                group.addTask { try await store.enqueue(QueueTestSupport.entry(id: "g\(index)")) }
            }
            try await group.waitForAll()
        }
        #expect(try await store.list().count == 300)
        await store.close()
        let reopened = try await FileJournalQueueStore.open(path: path)
        #expect(Set(try await reopened.list().map(\.id)) == Set((0..<300).map { "g\($0)" }))
        await reopened.close()
    }

    @Test(
        "two stores on one journal (as two processes) share it: each sees the other's writes",
        .timeLimit(.minutes(1)))
    func sharedByTwoStores() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        let first = try await FileJournalQueueStore.open(path: path)
        let second = try await FileJournalQueueStore.open(path: path)
        try await first.enqueue(QueueTestSupport.entry(id: "a"))
        try await second.enqueue(QueueTestSupport.entry(id: "b"))
        #expect(Set(try await first.list().map(\.id)) == ["a", "b"])
        await #expect(throws: QueueStoreError.self) {
            try await second.enqueue(QueueTestSupport.entry(id: "a"))
        }
        let due = QueueTestSupport.epoch.addingTimeInterval(300)
        let claims = try await first.claimDue(now: due, limit: 10, leaseFor: .seconds(60))
        #expect(claims.count == 2)
        #expect(try await second.claimDue(now: due, limit: 10, leaseFor: .seconds(60)).isEmpty)
        // After the leases expired the second takes one over; the first's is fenced.
        let later = due.addingTimeInterval(60)
        let taken = try await second.claimDue(now: later, limit: 1, leaseFor: .seconds(60))
        let stale = try #require(claims.first { $0.entry.id == taken.first?.entry.id })
        do {
            try await first.complete(stale.lease)
            Issue.record("a stale lease completed an entry another store had taken over")
        } catch let error as QueueStoreError {
            #expect(error.code == .leaseLost)
        }
        try await second.complete(taken[0].lease)
        #expect(try await first.list().count == 1)
        await first.close()
        await second.close()
    }

    @Test("compaction rewrites the live entries when dead records pile up", .timeLimit(.minutes(1)))
    func compaction() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        let store = try await FileJournalQueueStore.open(
            path: path, options: .init(compactionMinimumDeadRecords: 20, compactionDeadRatio: 1))
        var leases: [QueueLease] = []
        for index in 0..<50 {
            leases.append(
                try await store.enqueueLeased(
                    QueueTestSupport.entry(id: "k\(index)"), leaseFor: .seconds(60),
                    now: QueueTestSupport.epoch))
        }
        let before = store.statistics.bytes
        for lease in leases.prefix(45) { try await store.complete(lease) }
        let stats = store.statistics
        #expect(stats.compactions >= 1)
        #expect(stats.entries == 5)
        #expect(stats.bytes < before)
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(size == stats.bytes)
        // Still appending to the new file; another store reads it, leases included.
        try await store.enqueue(QueueTestSupport.entry(id: "after"))
        let other = try await FileJournalQueueStore.open(path: path)
        #expect(try await other.list().count == 6)
        try await store.compact()
        try await other.complete(leases[49])  // the lease survived the compactions
        try await store.enqueue(QueueTestSupport.entry(id: "k49"))  // seen by `store`
        await other.close()
        await store.close()
        #expect(!FileManager.default.fileExists(atPath: path + ".compact"))
        let reopened = try await FileJournalQueueStore.open(path: path)
        #expect(reopened.recovery.isClean)
        #expect(
            Set(try await reopened.list().map(\.id)) == [
                "k45", "k46", "k47", "k48", "k49", "after",
            ])
        await reopened.close()
    }

    @Test("a file that is not a journal is refused and left untouched", .timeLimit(.minutes(1)))
    func notAJournal() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("notes.txt")
        let text = Data(String(repeating: "not a journal at all\n", count: 50).utf8)
        try text.write(to: URL(fileURLWithPath: path))
        do {
            _ = try await FileJournalQueueStore.open(path: path)
            Issue.record("opened a text file as a journal")
        } catch let error as QueueStoreError {
            #expect(error.code == .notAJournal)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == text)
    }

    @Test(
        "an empty file or a header cut short by a crash opens as a new journal",
        .timeLimit(.minutes(1)), arguments: [0, 3, 7])
    func shortHeader(length: Int) async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        try Data(JournalRecord.fileHeader.prefix(length)).write(to: URL(fileURLWithPath: path))
        let store = try await FileJournalQueueStore.open(path: path)
        try await store.enqueue(QueueTestSupport.entry(id: "x"))
        await store.close()
        let reopened = try await FileJournalQueueStore.open(path: path)
        #expect(reopened.recovery.isClean)
        #expect(try await reopened.list().map(\.id) == ["x"])
        await reopened.close()
    }
}
