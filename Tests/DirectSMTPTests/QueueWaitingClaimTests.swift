import Foundation
import Sockets
import Testing

@testable import DirectSMTP

/// Claimed entries that wait for a delivery slot: several queues over one store send each
/// entry exactly once while every re-send is shorter than the lease. A queue once claimed
/// 64 entries at a time and renewed a lease only when its re-send started, so entries
/// waiting longer than their lease were claimed by another queue meanwhile and sent by both.
@Suite("Queue: claims waiting for a slot")
struct QueueWaitingClaimTests {
    @Test(
        "two queues over one store, short leases, slow re-sends: every entry sent exactly once",
        .timeLimit(.minutes(1)))
    func twoQueuesSendEachEntryOnce() async throws {
        let total = 60
        let now = Date()
        let store = InMemoryQueueStore(
            (0..<total).map {
                QueueTestSupport.entry(
                    id: "w\($0)", to: "u\($0)@d\($0 % 7).example", at: now, nextAttemptAt: now)
            })
        let sends = SendCounts()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    // Two re-sends at a time, 100 ms each, under 1 s leases: 60 entries
                    // take 3 s for one queue, 1.5 s for two.
                    let queue = DeliveryQueue(
                        store: store,
                        limits: .init(maxConcurrentDeliveries: 2, maxConcurrentPerDomain: 2),
                        leaseDuration: .seconds(1))
                    await queue.run { entry in
                        sends.counts.withLock { $0[entry.id, default: 0] += 1 }
                        try? await Task.sleep(for: .milliseconds(100))
                        return .delivered
                    }
                }
            }
            _ = await QueueTestSupport.eventually(timeout: .seconds(20)) { store.count == 0 }
            group.cancelAll()
        }
        let counts = sends.counts.withLock { $0 }
        #expect(store.count == 0)
        #expect(counts.count == total)
        let twice = counts.filter { $0.value > 1 }.keys.sorted()
        #expect(twice.isEmpty, "sent more than once: \(twice)")
    }

    @Test(
        "a claim whose lease was taken over while it waited is dropped: no send, no event",
        .timeLimit(.minutes(1)))
    func takenOverWaitingClaimIsNotSent() async throws {
        let (clock, store, queue) = Self.secondWaitsForFirst()
        let sent = Lock<[String]>([])
        let stolen = Lock<[ClaimedEntry]>([])
        // "first" outlasts every lease; meanwhile another worker claims "second".
        let summary = try await queue.runDue { entry in
            sent.withLock { $0.append(entry.id) }
            let claims = await Self.anotherWorkerClaimsSecond(clock, store)
            stolen.withLock { $0 += claims }
            return .delivered
        }
        #expect(sent.withLock { $0 } == ["first"])
        let taken = stolen.withLock { $0 }
        #expect(taken.map(\.entry.id) == ["second"])
        #expect(summary.events.map(\.entryID) == ["first"])
        // The other worker's lease still holds the entry.
        if let other = taken.first { try await store.complete(other.lease) }
        #expect(store.count == 0)
    }

    @Test(
        "a claim past its maximum age whose lease was taken over is not reported expired",
        .timeLimit(.minutes(1)))
    func takenOverClaimPastMaxAgeIsNotExpiredHere() async throws {
        let (clock, store, queue) = Self.secondWaitsForFirst(maxAge: .seconds(100))
        let stolen = Lock<[ClaimedEntry]>([])
        // While "first" is sent, both entries pass their maximum age and "second" is
        // claimed by another worker: it is that worker's to expire (or send), not ours.
        let summary = try await queue.runDue { _ in
            let claims = await Self.anotherWorkerClaimsSecond(clock, store)
            stolen.withLock { $0 += claims }
            return .delivered
        }
        #expect(stolen.withLock { $0 }.map(\.entry.id) == ["second"])
        #expect(summary.events.map(\.entryID) == ["first"], "\(summary.events)")
        #expect(summary.expired == 0)
        #expect(store.count == 1)  // "second", under the other worker's lease
    }

    @Test(
        "a claim that waited past half its lease is renewed before its send starts",
        .timeLimit(.minutes(1)))
    func waitingClaimIsRenewedBeforeItsSend() async throws {
        let (clock, store, queue) = Self.secondWaitsForFirst()
        let sent = Lock<[String]>([])
        let summary = try await queue.runDue { entry in
            sent.withLock { $0.append(entry.id) }
            if entry.id == "first" {
                // Past half of "second"'s lease, not past its end.
                clock.advance(by: .seconds(40))
            } else {
                // Renewed at start: nobody can claim it during its send's first 60 s.
                let others = try? await store.claimDue(
                    now: clock.now.addingTimeInterval(50), limit: 10, leaseFor: .seconds(60))
                #expect(others?.isEmpty == true, "claimed during its send: \(others ?? [])")
            }
            return .delivered
        }
        #expect(sent.withLock { $0 } == ["first", "second"])
        #expect(summary.delivered == 2)
        #expect(store.count == 0)
    }

    /// From inside "first"'s send: the clock passes both leases (120 s); once this send
    /// has renewed its own (its task sleeps on the clock again), another worker claims
    /// what is free, which is "second".
    private static func anotherWorkerClaimsSecond(
        _ clock: ManualQueueClock, _ store: InMemoryQueueStore
    ) async -> [ClaimedEntry] {
        _ = await QueueTestSupport.eventually { clock.sleeperCount == 1 }
        clock.advance(by: .seconds(120))
        _ = await QueueTestSupport.eventually { clock.sleeperCount == 1 }
        return (try? await store.claimDue(now: clock.now, limit: 10, leaseFor: .seconds(60))) ?? []
    }

    /// Two entries due, one domain, one send per domain and 60 s leases: "second" is
    /// claimed with "first" and waits while "first" is sent. The clock is 10 s in.
    private static func secondWaitsForFirst(maxAge: Duration = .seconds(86_400)) -> (
        ManualQueueClock, InMemoryQueueStore, DeliveryQueue
    ) {
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        let store = InMemoryQueueStore([
            QueueTestSupport.entry(
                id: "first", to: "a@same.example", nextAttemptAt: QueueTestSupport.epoch),
            QueueTestSupport.entry(
                id: "second", to: "b@same.example",
                nextAttemptAt: QueueTestSupport.epoch.addingTimeInterval(1)),
        ])
        let queue = DeliveryQueue(
            store: store, schedule: RetrySchedule(maxAge: maxAge),
            limits: .init(maxConcurrentDeliveries: 2, maxConcurrentPerDomain: 1),
            clock: clock, leaseDuration: .seconds(60))
        clock.advance(by: .seconds(10))
        return (clock, store, queue)
    }
}

/// Sends per entry id, from concurrent re-sends of several queues.
private final class SendCounts: Sendable {
    let counts = Lock<[String: Int]>([:])
}
