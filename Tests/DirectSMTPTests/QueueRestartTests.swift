import Foundation
import Synchronization
import Testing

@testable import DirectSMTP

/// A store that delegates to another and can be told to fail removals (complete, give
/// up, purge) or updates (reschedule), to show what the queue does when its store fails.
final class FlakyStore: QueueStore {
    let base: any QueueStore
    let failRemovals = Mutex(false)
    let failUpdates = Mutex(false)

    init(_ base: any QueueStore) { self.base = base }

    private func fail(_ flag: borrowing Mutex<Bool>) throws {
        if flag.withLock({ $0 }) {
            throw QueueStoreError(.ioFailed, errno: 5, "disk on fire (test)")
        }
    }

    func enqueue(_ entry: QueueEntry) async throws { try await base.enqueue(entry) }
    func enqueueLeased(_ entry: QueueEntry, leaseFor: Duration, now: Date) async throws
        -> QueueLease
    {
        try await base.enqueueLeased(entry, leaseFor: leaseFor, now: now)
    }
    func claimDue(now: Date, limit: Int, leaseFor: Duration) async throws -> [ClaimedEntry] {
        try await base.claimDue(now: now, limit: limit, leaseFor: leaseFor)
    }
    func renew(_ lease: QueueLease, leaseFor: Duration, now: Date) async throws -> QueueLease {
        try await base.renew(lease, leaseFor: leaseFor, now: now)
    }
    func complete(_ lease: QueueLease) async throws {
        try fail(failRemovals)
        try await base.complete(lease)
    }
    func reschedule(_ lease: QueueLease, attempts: Int, nextAttemptAt: Date, lastReason: String?)
        async throws
    {
        try fail(failUpdates)
        try await base.reschedule(
            lease, attempts: attempts, nextAttemptAt: nextAttemptAt, lastReason: lastReason)
    }
    func giveUp(_ lease: QueueLease, reason: String) async throws {
        try fail(failRemovals)
        try await base.giveUp(lease, reason: reason)
    }
    func purge(createdBefore cutoff: Date, now: Date) async throws -> [QueueEntry] {
        try fail(failRemovals)
        return try await base.purge(createdBefore: cutoff, now: now)
    }
    func list() async throws -> [QueueEntry] { try await base.list() }
}

@Suite("Queue: restarts and the at-least-once guarantee")
struct QueueRestartTests {
    @Test(
        "entries enqueued before a restart are loaded and delivered after it",
        .timeLimit(.minutes(1)))
    func survivesRestart() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        do {
            let store = try await FileJournalQueueStore.open(path: path)
            let queue = TestQueue(store: store, clock: clock) { _ in
                .deferred(reason: "temporary-failure")
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<40 {
                    group.addTask {
                        try await queue.enqueue(QueueTestSupport.entry(id: "p\(index)"))
                    }
                }
                try await group.waitForAll()
            }
            clock.advance(by: .seconds(300))
            #expect(try await queue.runDue().deferred == 40)
            await store.close()  // the process "ends" here
        }
        let delivered = Mutex<[String]>([])
        let store = try await FileJournalQueueStore.open(path: path)
        let queue = TestQueue(store: store, clock: clock) { entry in
            delivered.withLock { $0.append(entry.id) }
            return .delivered
        }
        let entries = try await queue.entries()
        #expect(entries.count == 40)
        #expect(
            entries.allSatisfy {
                $0.attempts == 2 && $0.nextAttemptAt == clock.now.addingTimeInterval(600)
            })
        clock.advance(by: .seconds(600))
        #expect(try await queue.runDue().delivered == 40)
        #expect(Set(delivered.withLock { $0 }) == Set((0..<40).map { "p\($0)" }))
        await store.close()
        let reopened = try await FileJournalQueueStore.open(path: path)
        #expect(try await reopened.list().isEmpty)
        await reopened.close()
    }

    @Test(
        "a removal that never reached the store means one more delivery after a restart, same Message-ID",
        .timeLimit(.minutes(1)))
    func atLeastOnce() async throws {
        let memory = InMemoryQueueStore()
        let flaky = FlakyStore(memory)
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        let sent = Mutex<[String]>([])
        let deliver: @Sendable (QueueEntry) async -> RetryOutcome = { entry in
            sent.withLock { $0.append(entry.messageID) }
            return .delivered
        }
        let queue = TestQueue(store: flaky, clock: clock, deliver: deliver)
        let recorder = EventRecorder(queue.events)
        let entry = QueueTestSupport.entry(id: "dup")
        try await queue.enqueue(entry)
        flaky.failRemovals.withLock { $0 = true }
        clock.advance(by: .seconds(300))
        let summary = try await queue.runDue()
        #expect(summary.delivered == 1)
        #expect(
            summary.events.contains {
                if case .storeFailed(let id, _) = $0 { id == "dup" } else { false }
            })
        #expect(await recorder.waitFor { if case .storeFailed = $0 { true } else { false } })
        // This process never sends it again...
        clock.advance(by: .seconds(3600))
        try await queue.runAll()
        #expect(sent.withLock { $0 } == [entry.messageID])
        // ...but after a restart the store still has it: once the dead process's lease
        // has expired, it is sent once more, same Message-ID.
        flaky.failRemovals.withLock { $0 = false }
        let restarted = TestQueue(store: flaky, clock: clock, deliver: deliver)
        clock.advance(by: restarted.queue.leaseDuration)
        #expect(try await restarted.runAll().delivered == 1)
        #expect(sent.withLock { $0 } == [entry.messageID, entry.messageID])
        #expect(memory.count == 0)
    }

    @Test(
        "a removal that failed is tried again at the next run: once the disk recovers, a restart sends nothing",
        .timeLimit(.minutes(1)))
    func failedRemovalRetried() async throws {
        let memory = InMemoryQueueStore()
        let flaky = FlakyStore(memory)
        let deliverer = CountingDeliverer(.delivered)
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        let queue = TestQueue(store: flaky, clock: clock) { deliverer.deliver($0) }
        try await queue.enqueue(QueueTestSupport.entry(id: "delivered"))
        try await queue.enqueue(
            QueueTestSupport.entry(id: "old", at: clock.now.addingTimeInterval(-30 * 86_400)))
        flaky.failRemovals.withLock { $0 = true }  // the disk is full
        clock.advance(by: .seconds(300))
        let failed = try await queue.runDue()
        #expect(failed.delivered == 1 && failed.expired == 1)
        #expect(try await memory.list().count == 2, "both removals failed")
        flaky.failRemovals.withLock { $0 = false }  // space again
        _ = try await queue.runDue()  // nothing due; the removals are made now
        #expect(try await memory.list().isEmpty)
        let restarted = TestQueue(store: flaky, clock: clock) { deliverer.deliver($0) }
        #expect(try await restarted.runAll().delivered == 0)
        #expect(deliverer.count == 1)
    }

    @Test(
        "a failed update is reported and the entry is not retried in a tight loop",
        .timeLimit(.minutes(1)))
    func failedUpdate() async throws {
        let flaky = FlakyStore(InMemoryQueueStore())
        flaky.failUpdates.withLock { $0 = true }
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        let deliverer = CountingDeliverer(.deferred(reason: "temporary-failure"))
        let queue = TestQueue(store: flaky, clock: clock) { deliverer.deliver($0) }
        try await queue.enqueue(QueueTestSupport.entry(id: "u"))
        clock.advance(by: .seconds(300))
        let summary = try await queue.runDue()
        #expect(summary.deferred == 1)
        #expect(summary.events.contains { if case .storeFailed = $0 { true } else { false } })
        // Not retried: the lease still holds it while the update is tried again (and
        // reported failing again); the store keeps what it last recorded.
        let again = try await queue.runDue()
        #expect(again.events.allSatisfy { if case .storeFailed = $0 { true } else { false } })
        #expect(deliverer.count == 1)
        #expect(try await queue.entries().first?.attempts == 1)
    }
}
