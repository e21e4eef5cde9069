import Foundation
import Synchronization
import Testing

@testable import DirectSMTP

/// Several workers over one journal (store objects stand in for processes: each has its
/// own descriptor, so its lock excludes the others exactly as another process's would).
@Suite("Queue: one journal shared by several workers", .timeLimit(.minutes(1)))
struct QueueSharedJournalTests {
    @Test("concurrent claims from two stores never hand one entry to both")
    func concurrentClaimsAcrossStores() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        let first = try await FileJournalQueueStore.open(path: path)
        let second = try await FileJournalQueueStore.open(path: path)
        for index in 0..<40 {
            try await (index.isMultiple(of: 2) ? first : second).enqueue(
                QueueTestSupport.entry(id: "e\(index)"))
        }
        let now = QueueTestSupport.epoch.addingTimeInterval(300)
        let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
            for worker in 0..<20 {
                let store = worker.isMultiple(of: 2) ? first : second
                group.addTask {
                    var ids: [String] = []
                    for _ in 0..<4 {
                        ids += try await store.claimDue(now: now, limit: 1, leaseFor: .seconds(60))
                            .map(\.entry.id)
                    }
                    return ids
                }
            }
            var all: [String] = []
            for try await ids in group { all += ids }
            return all
        }
        #expect(claimed.count == Set(claimed).count, "claimed twice: \(claimed.sorted())")
        #expect(Set(claimed).count == 40)
        await first.close()
        await second.close()
    }

    @Test("two queues over one journal deliver every entry exactly once")
    func twoQueuesDeliverOnce() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        let sent = Mutex<[String]>([])
        let deliver: DeliveryQueue.Deliver = { entry in
            sent.withLock { $0.append(entry.id) }
            try? await Task.sleep(for: .milliseconds(2))
            return .delivered
        }
        let stores = [
            try await FileJournalQueueStore.open(path: path),
            try await FileJournalQueueStore.open(path: path),
        ]
        let queues = stores.map {
            DeliveryQueue(
                store: $0, limits: .init(maxConcurrentDeliveries: 4, maxConcurrentPerDomain: 4),
                clock: clock)
        }
        for index in 0..<60 {
            try await queues[index % 2].enqueue(
                QueueTestSupport.entry(id: "m\(index)", to: "u\(index)@d\(index % 7).example"))
        }
        clock.advance(by: .seconds(300))
        async let one = queues[0].runDue(deliveringWith: deliver)
        async let two = queues[1].runDue(deliveringWith: deliver)
        let summaries = try await [one, two]
        #expect(summaries.map(\.delivered).reduce(0, +) == 60)
        let ids = sent.withLock { $0 }
        #expect(ids.count == 60 && Set(ids).count == 60, "sent twice: \(ids.sorted())")
        #expect(try await stores[1].list().isEmpty)
        for store in stores { await store.close() }
    }

    @Test("a long re-send renews its lease: another worker cannot take the entry meanwhile")
    func longResendKeepsItsLease() async throws {
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        let store = InMemoryQueueStore()
        let gate = Gate()
        let started = Mutex(false)
        let queue = DeliveryQueue(store: store, clock: clock, leaseDuration: .seconds(10))
        try await queue.enqueue(QueueTestSupport.entry(id: "slow"))
        clock.advance(by: .seconds(300))
        let run = Task {
            try await queue.runDue { _ in
                started.withLock { $0 = true }
                await gate.wait()
                return .delivered
            }
        }
        // The re-send runs; its renewal sleeps until half the lease (5 s) has passed.
        #expect(
            await QueueTestSupport.eventually { started.withLock { $0 } && clock.sleeperCount == 1 }
        )
        clock.advance(by: .seconds(6))
        // Renewed at 306 s until 316 s: the renewal sleeps again, until 311 s.
        #expect(await QueueTestSupport.eventually { clock.sleeperCount == 1 })
        let atTwelve = clock.now.addingTimeInterval(6)  // past the first lease (310 s)
        let stolen = try await store.claimDue(now: atTwelve, limit: 1, leaseFor: .seconds(10))
        #expect(stolen.isEmpty, "a lease renewed while its re-send runs was taken over")
        gate.open()
        #expect(try await run.value.delivered == 1)
        #expect(store.count == 0)
    }
}
