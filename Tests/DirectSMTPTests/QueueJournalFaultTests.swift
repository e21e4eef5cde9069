import Foundation
import Testing

@testable import DirectSMTP

#if canImport(Glibc)
    import Glibc
#endif

/// The file journal when the disk fails: a full disk (ENOSPC) on write, a failing fsync,
/// a directory that cannot be synced; and what a crash in the middle of a compaction
/// leaves. Faults are injected per journal path (`JournalFaults`).
@Suite("Queue: journal under disk faults")
struct QueueJournalFaultTests {
    static func fileSize(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
    }

    @Test(
        "a full disk fails the write, takes the partial record back, and the store goes on",
        .timeLimit(.minutes(1)))
    func diskFull() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        defer { JournalFaults.clear(path: path) }
        let store = try await FileJournalQueueStore.open(path: path)
        try await store.enqueue(QueueTestSupport.entry(id: "before"))
        let sizeBefore = try Self.fileSize(path)

        JournalFaults.inject(.write, path: path, errno: ENOSPC)
        do {
            try await store.enqueue(QueueTestSupport.entry(id: "refused"))
            Issue.record("an add on a full disk was acknowledged")
        } catch let error as QueueStoreError {
            #expect(error.code == .ioFailed)
            #expect(error.errno == ENOSPC)
        }
        #expect(JournalFaults.hits(.write, path: path) == 1)
        // Half the record had landed; it was cut off again.
        #expect(try Self.fileSize(path) == sizeBefore)
        #expect(try await store.list().map(\.id) == ["before"])
        // Not poisoned: space came back, the next add works, the refused id is free again.
        try await store.enqueue(QueueTestSupport.entry(id: "after"))
        try await store.enqueue(QueueTestSupport.entry(id: "refused"))
        #expect(store.statistics.bytes == (try Self.fileSize(path)))
        await store.close()

        let reopened = try await FileJournalQueueStore.open(path: path)
        #expect(reopened.recovery.isClean, "\(reopened.recovery)")
        #expect(Set(try await reopened.list().map(\.id)) == ["before", "after", "refused"])
        await reopened.close()
    }

    @Test(
        "a full disk whose partial write cannot be taken back poisons the store",
        .timeLimit(.minutes(1)))
    func diskFullAndTruncateFails() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        defer { JournalFaults.clear(path: path) }
        let store = try await FileJournalQueueStore.open(path: path)
        try await store.enqueue(QueueTestSupport.entry(id: "kept"))
        JournalFaults.inject(.write, path: path, errno: ENOSPC)
        JournalFaults.inject(.truncate, path: path, errno: EIO)
        await #expect(throws: QueueStoreError.self) {
            try await store.enqueue(QueueTestSupport.entry(id: "torn"))
        }
        do {
            try await store.enqueue(QueueTestSupport.entry(id: "later"))
            Issue.record("a poisoned store acknowledged a write")
        } catch let error as QueueStoreError {
            #expect(error.code == .poisoned)
        }
        #expect(try await store.list().map(\.id) == ["kept"])
        await store.close()
        // Reopening recovers: the half record was a torn tail (cut by whichever section
        // took the lock next: here the poisoned store's own), "kept" is there.
        let reopened = try await FileJournalQueueStore.open(path: path)
        #expect(try await reopened.list().map(\.id) == ["kept"])
        #expect(!reopened.recovery.hasCorruption, "\(reopened.recovery)")
        await reopened.close()
    }

    @Test(
        "a failed fsync fails its batch and every write queued behind it; none is acknowledged",
        .timeLimit(.minutes(1)))
    func failedSyncRefusesQueuedWrites() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        defer { JournalFaults.clear(path: path) }
        let store = try await FileJournalQueueStore.open(path: path)
        try await store.enqueue(QueueTestSupport.entry(id: "durable"))

        // The next sync takes 300 ms and then fails (EIO), once.
        JournalFaults.inject(.sync, path: path, errno: EIO, delay: .milliseconds(300))
        let first = Task { () -> QueueStoreError.Code? in
            do {
                try await store.enqueue(QueueTestSupport.entry(id: "in-failed-sync"))
                return nil
            } catch let error as QueueStoreError {
                return error.code
            } catch {
                return QueueStoreError.Code(rawValue: "other")
            }
        }
        // While that sync runs, more writes queue up behind it.
        #expect(
            await QueueTestSupport.eventually { JournalFaults.hits(.sync, path: path) == 1 })
        let queued = (0..<4).map { index in
            Task { () -> QueueStoreError.Code? in
                do {
                    try await store.enqueue(QueueTestSupport.entry(id: "queued-\(index)"))
                    return nil
                } catch let error as QueueStoreError {
                    return error.code
                } catch {
                    return QueueStoreError.Code(rawValue: "other")
                }
            }
        }
        #expect(await first.value == .ioFailed)
        for task in queued {
            // Before the fix these were written and synced after the failed sync, and
            // acknowledged by a store that called itself poisoned.
            #expect(await task.value == .poisoned)
        }
        // Memory claims only what was durable.
        #expect(try await store.list().map(\.id) == ["durable"])
        await store.close()

        let reopened = try await FileJournalQueueStore.open(path: path)
        let ids = Set(try await reopened.list().map(\.id))
        #expect(ids.contains("durable"))
        // The queued writes never reached the file.
        #expect(ids.isDisjoint(with: (0..<4).map { "queued-\($0)" }))
        // Nor does the batch whose sync failed come back: its caller was told it failed.
        #expect(!ids.contains("in-failed-sync"))
        await reopened.close()
    }

    @Test(
        "a crash in the middle of a compaction: the leftover temporary file is removed on open",
        .timeLimit(.minutes(1)))
    func leftoverCompactionFile() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        let store = try await FileJournalQueueStore.open(path: path)
        try await store.enqueue(QueueTestSupport.entry(id: "a"))
        try await store.enqueue(QueueTestSupport.entry(id: "b"))
        await store.close()
        // What a crash between writing PATH.compact and renaming it leaves: a partial copy.
        let leftover = path + ".compact"
        let partial = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))).prefix(20)
        try Data(partial).write(to: URL(fileURLWithPath: leftover))

        let reopened = try await FileJournalQueueStore.open(path: path)
        #expect(!FileManager.default.fileExists(atPath: leftover))
        #expect(reopened.recovery.isClean)
        #expect(Set(try await reopened.list().map(\.id)) == ["a", "b"])
        await reopened.close()
    }

    @Test(
        "opening an existing journal syncs its directory (its creation may never have been)",
        .timeLimit(.minutes(1)))
    func openSyncsDirectory() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        defer { JournalFaults.clear(path: path) }
        // A journal whose creator wrote the header and died before syncing the directory.
        try Data(JournalRecord.fileHeader).write(to: URL(fileURLWithPath: path))
        JournalFaults.inject(.syncDirectory, path: path, errno: EIO)
        do {
            let store = try await FileJournalQueueStore.open(path: path)
            await store.close()
            Issue.record("opened without syncing the directory")
        } catch let error as QueueStoreError {
            #expect(error.code == .ioFailed)
        }
        #expect(JournalFaults.hits(.syncDirectory, path: path) == 1)
        // The sync works again: the journal opens.
        let store = try await FileJournalQueueStore.open(path: path)
        #expect(store.recovery.isClean)
        await store.close()
    }

    @Test(
        "a record header whose length field is huge is damage, not an allocation or a trap",
        .timeLimit(.minutes(1)), arguments: [UInt32.max, UInt32(64 << 20), UInt32(64 << 20) + 1])
    func hugeLength(length: UInt32) async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        let store = try await FileJournalQueueStore.open(path: path)
        try await store.enqueue(QueueTestSupport.entry(id: "kept"))
        await store.close()
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        // A header with a valid magic and kind, then the length, a crc, and a few bytes.
        JournalRecord.append(JournalRecord.magic, to: &bytes)
        bytes += [JournalRecord.Kind.add.rawValue, 0, 0, 0]
        JournalRecord.append(length, to: &bytes)
        JournalRecord.append(UInt32(0xDEAD_BEEF), to: &bytes)
        bytes += [UInt8](repeating: 0x41, count: 100)
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let reopened = try await FileJournalQueueStore.open(path: path)
        #expect(try await reopened.list().map(\.id) == ["kept"])
        #expect(reopened.recovery.tornTailBytes == 16 + 100)
        await reopened.close()
    }
}

@Suite("Queue: journal refuses entries it could not read back")
struct QueueJournalInvalidEntryTests {
    @Test(
        "an empty id or a non-finite date is refused, not acknowledged and then lost",
        .timeLimit(.minutes(1)), arguments: ["empty-id", "nan-created", "infinite-next"])
    func refused(kind: String) async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        let store = try await FileJournalQueueStore.open(path: path)
        try await store.enqueue(QueueTestSupport.entry(id: "good"))
        var bad = QueueTestSupport.entry(id: "bad")
        switch kind {
        case "empty-id": bad.id = ""
        case "nan-created": bad.createdAt = Date(timeIntervalSince1970: .nan)
        default: bad.nextAttemptAt = Date(timeIntervalSince1970: .infinity)
        }
        do {
            try await store.enqueue(bad)
            Issue.record("acknowledged an entry recovery cannot read back")
        } catch let error as QueueStoreError {
            #expect(error.code == .invalidEntry)
        }
        if kind != "empty-id" {
            // A reschedule to a bad date is refused the same way.
            let claimed = try await store.claimDue(
                now: QueueTestSupport.epoch.addingTimeInterval(300), limit: 1,
                leaseFor: .seconds(60))
            let lease = try #require(claimed.first?.lease)
            await #expect(throws: QueueStoreError.self) {
                try await store.reschedule(
                    lease, attempts: 2, nextAttemptAt: Date(timeIntervalSince1970: .nan),
                    lastReason: nil)
            }
        }
        await store.close()
        let reopened = try await FileJournalQueueStore.open(path: path)
        #expect(reopened.recovery.isClean, "\(reopened.recovery)")
        #expect(try await reopened.list().map(\.id) == ["good"])
        await reopened.close()
    }
}
