import Foundation
import Testing

@testable import DirectSMTP

@Suite("Queue: file journal store")
struct QueueJournalTests {
    @Test("add, update, remove survive a reopen", .timeLimit(.minutes(1)))
    func roundTrip() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        let store = try await FileJournalQueueStore.open(path: path)
        #expect(store.recovery.isClean)
        #expect(store.recovery.recordCount == 0)
        var first = QueueTestSupport.entry(id: "one")
        let second = QueueTestSupport.entry(id: "two", to: "other@example.net")
        try await store.add(first)
        try await store.add(second)
        first.attempts = 2
        first.lastReason = "no-reachable-host"
        try await store.update(first)
        try await store.add(QueueTestSupport.entry(id: "three"))
        try await store.remove(id: "three")
        try await store.remove(id: "never-there")
        await #expect(
            throws: QueueStoreError(.duplicateID, "an entry with id two is already stored")
        ) {
            try await store.add(second)
        }
        await #expect(throws: QueueStoreError.self) {
            try await store.update(QueueTestSupport.entry(id: "ghost"))
        }
        await store.close()
        await #expect(throws: QueueStoreError.self) { try await store.load() }

        let reopened = try await FileJournalQueueStore.open(path: path)
        #expect(reopened.recovery.isClean)
        #expect(reopened.recovery.recordCount == 5)
        let loaded = try await reopened.load().sorted { $0.id < $1.id }
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
                group.addTask { try await store.add(QueueTestSupport.entry(id: "g\(index)")) }
            }
            try await group.waitForAll()
        }
        #expect(try await store.load().count == 300)
        await store.close()
        let reopened = try await FileJournalQueueStore.open(path: path)
        #expect(Set(try await reopened.load().map(\.id)) == Set((0..<300).map { "g\($0)" }))
        await reopened.close()
    }

    @Test("a journal is locked against a second opener until closed", .timeLimit(.minutes(1)))
    func locked() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        let first = try await FileJournalQueueStore.open(path: path)
        do {
            _ = try await FileJournalQueueStore.open(path: path)
            Issue.record("a second open of a locked journal succeeded")
        } catch let error as QueueStoreError {
            #expect(error.code == .locked)
            #expect(error.description.contains("locked"))
        }
        await first.close()
        let second = try await FileJournalQueueStore.open(path: path)
        await second.close()
    }

    @Test("compaction rewrites the live entries when dead records pile up", .timeLimit(.minutes(1)))
    func compaction() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        let store = try await FileJournalQueueStore.open(
            path: path, options: .init(compactionMinimumDeadRecords: 20, compactionDeadRatio: 1))
        for index in 0..<50 { try await store.add(QueueTestSupport.entry(id: "k\(index)")) }
        let before = store.statistics.bytes
        for index in 0..<45 { try await store.remove(id: "k\(index)") }
        let stats = store.statistics
        #expect(stats.compactions >= 1)
        #expect(stats.entries == 5)
        #expect(stats.bytes < before)
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(size == stats.bytes)
        // Still appending to the new file, still locked.
        try await store.add(QueueTestSupport.entry(id: "after"))
        await #expect(throws: QueueStoreError.self) {
            _ = try await FileJournalQueueStore.open(path: path)
        }
        try await store.compact()
        await store.close()
        #expect(!FileManager.default.fileExists(atPath: path + ".compact"))
        let reopened = try await FileJournalQueueStore.open(path: path)
        #expect(reopened.recovery.isClean)
        #expect(
            Set(try await reopened.load().map(\.id)) == [
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
        try await store.add(QueueTestSupport.entry(id: "x"))
        await store.close()
        let reopened = try await FileJournalQueueStore.open(path: path)
        #expect(reopened.recovery.isClean)
        #expect(try await reopened.load().map(\.id) == ["x"])
        await reopened.close()
    }
}
