import DirectSMTP
import DirectSMTPPostgres
import Foundation
import Synchronization
import Testing

/// Two queues over one table, re-sends far shorter than the lease: every entry is sent
/// exactly once. `DeliveryQueue` once claimed 64 entries at a time and renewed a lease only
/// when that entry's re-send started, so an entry waiting in the batch longer than its lease
/// was claimed by the other queue meanwhile and sent by both (about a third of them). Now
/// it claims no more than its delivery slots take and renews a waiting claim before
/// sending it.
@Suite(.enabled(if: TestDatabase.isAvailable, TestDatabase.skipNote))
struct PostgresWaitingClaimTests {
    @Test(.timeLimit(.minutes(1)))
    func entriesWaitingInAClaimedBatchOutliveTheirLease() async throws {
        let total = 100
        let deliveries = DeliveryCounts()
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client, prefix: "waiting") { store in
                try await enqueueWorkerEntries(total, now: Date(), into: store)
                let deadline = ContinuousClock.now + .seconds(40)
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<2 {
                        group.addTask {
                            // Two re-sends at a time, 100 ms each, under 1 s leases.
                            let queue = DeliveryQueue(
                                store: store, limits: .init(maxConcurrentDeliveries: 2, maxConcurrentPerDomain: 2),
                                leaseDuration: .seconds(1))
                            await queue.run { entry in
                                deliveries.count(entry.id)
                                try? await Task.sleep(for: .milliseconds(100))
                                return .delivered
                            }
                        }
                    }
                    while ContinuousClock.now < deadline {
                        if (try? await TestDatabase.count(store.table, on: client)) == 0 { break }
                        try? await Task.sleep(for: .milliseconds(100))
                    }
                    group.cancelAll()
                }
                #expect(deliveries.distinct == total)
                #expect(deliveries.sentMoreThanOnce == 0)
            }
        }
    }
}

/// Deliveries per entry id, from concurrent re-sends.
final class DeliveryCounts: Sendable {
    private let counts = Mutex([String: Int]())

    func count(_ id: String) { counts.withLock { $0[id, default: 0] += 1 } }
    var distinct: Int { counts.withLock { $0.count } }
    var sentMoreThanOnce: Int { counts.withLock { $0.values.filter { $0 > 1 }.count } }
}
