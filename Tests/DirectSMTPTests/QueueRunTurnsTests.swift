import Foundation
import Sockets
import Testing

@testable import DirectSMTP

/// Runs that overlap (the background runner and an explicit `runDue`, or two `runDue`
/// calls), and stopping a runner in the middle of a backlog.
@Suite("Queue: overlapping runs and stop()")
struct QueueRunTurnsTests {
    @Test(
        "stop() during a run starts no further retry: the rest keep their attempts and schedule",
        .timeLimit(.minutes(1)))
    func stopStartsNothingNew() async throws {
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        let started = Lock<[String]>([])
        let queue = TestQueue(
            store: InMemoryQueueStore(), clock: clock,
            limits: .init(maxConcurrentDeliveries: 1, maxConcurrentPerDomain: 1)
        ) { entry in
            started.withLock { $0.append(entry.id) }
            // A re-send that runs until its task is cancelled (bounded), as a real one
            // whose budget is cut short by stop().
            try? await Task.sleep(for: .seconds(20))
            return .deferred(reason: "budget-exceeded")
        }
        for index in 0..<5 {
            try await queue.enqueue(
                QueueTestSupport.entry(id: "s\(index)", to: "u\(index)@d\(index).example"))
        }
        clock.advance(by: .seconds(300))
        await queue.start()
        #expect(await QueueTestSupport.eventually { started.withLock { $0.count } == 1 })
        await queue.stop()
        #expect(
            started.withLock { $0.count } == 1,
            "retries started after stop(): \(started.withLock { $0 })")
        let entries = try await queue.entries()
        #expect(entries.count == 5)
        #expect(entries.filter { $0.attempts == 2 }.count == 1)
        #expect(entries.filter { $0.attempts == 1 }.count == 4)
        #expect(
            entries.filter { $0.attempts == 1 }.allSatisfy {
                $0.nextAttemptAt == QueueTestSupport.epoch.addingTimeInterval(300)
            })
    }

    @Test(
        "two overlapping runDue calls keep the total concurrency limit",
        .timeLimit(.minutes(1)))
    func overlappingRunsKeepTheLimit() async throws {
        let gauge = Lock((now: 0, most: 0, calls: 0))
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        let queue = TestQueue(
            store: InMemoryQueueStore(), clock: clock,
            limits: .init(maxConcurrentDeliveries: 2, maxConcurrentPerDomain: 2)
        ) { _ in
            gauge.withLock {
                $0.now += 1
                $0.most = max($0.most, $0.now)
                $0.calls += 1
            }
            try? await Task.sleep(for: .milliseconds(20))
            gauge.withLock { $0.now -= 1 }
            return .delivered
        }
        for index in 0..<8 {
            try await queue.enqueue(
                QueueTestSupport.entry(id: "o\(index)", to: "u\(index)@d\(index).example"))
        }
        clock.advance(by: .seconds(300))
        async let first = queue.runDue()
        async let second = queue.runDue()
        let delivered = try await first.delivered + second.delivered
        #expect(delivered == 8)
        let state = gauge.withLock { $0 }
        #expect(state.calls == 8)
        #expect(state.most <= 2, "\(state.most) retries ran at once with a limit of 2")
    }

    @Test(
        "an entry deferred by one run is not retried again by an overlapping run that listed it",
        .timeLimit(.minutes(1)))
    func overlappingRunsDoNotRetryTwice() async throws {
        let calls = Lock<[String: Int]>([:])
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        let queue = TestQueue(
            store: InMemoryQueueStore(), clock: clock,
            limits: .init(maxConcurrentDeliveries: 1, maxConcurrentPerDomain: 1)
        ) { entry in
            calls.withLock { $0[entry.id, default: 0] += 1 }
            // "slow" holds the first run's only slot while the second run retries "quick".
            if entry.id == "slow" { try? await Task.sleep(for: .milliseconds(200)) }
            return .deferred(reason: "temporary-failure")
        }
        try await queue.enqueue(
            QueueTestSupport.entry(
                id: "slow", to: "a@a.example",
                nextAttemptAt: QueueTestSupport.epoch.addingTimeInterval(100)))
        try await queue.enqueue(
            QueueTestSupport.entry(
                id: "quick", to: "b@b.example",
                nextAttemptAt: QueueTestSupport.epoch.addingTimeInterval(200)))
        clock.advance(by: .seconds(300))
        async let first = queue.runDue()
        async let second = queue.runDue()
        let deferred = try await first.deferred + second.deferred
        #expect(calls.withLock { $0 } == ["slow": 1, "quick": 1])
        #expect(deferred == 2)
        let entries = try await queue.entries()
        #expect(entries.allSatisfy { $0.attempts == 2 })
        // Both rescheduled by the backoff (10 min after the second try), not tried again now.
        #expect(entries.allSatisfy { $0.nextAttemptAt == clock.now.addingTimeInterval(600) })
    }

    @Test(
        "start() while stop() waits for the old runner leaves a working runner",
        .timeLimit(.minutes(1)))
    func startDuringStop() async throws {
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        let startedFirst = Lock(false)
        let cancelledSeen = Lock(false)
        let release = Lock(false)
        let delivered = Lock<[String]>([])
        let queue = TestQueue(store: InMemoryQueueStore(), clock: clock) { entry in
            if entry.id == "first" {
                startedFirst.withLock { $0 = true }
                // Holds the old runner until stop() has cancelled it, then until the test
                // has called start() (bounded; an unstructured sleep ignores the cancel).
                while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(2)) }
                cancelledSeen.withLock { $0 = true }
                let deadline = ContinuousClock.now + .seconds(5)
                while !release.withLock({ $0 }) && ContinuousClock.now < deadline {
                    await Task { try? await Task.sleep(for: .milliseconds(2)) }.value
                }
                return .deferred(reason: "budget-exceeded")
            }
            delivered.withLock { $0.append(entry.id) }
            return .delivered
        }
        try await queue.enqueue(QueueTestSupport.entry(id: "first"))
        clock.advance(by: .seconds(300))
        await queue.start()
        // stop() before the runner has begun the re-send would leave nothing to cancel (a
        // stopped runner starts no re-send): the test failed so about one run in three.
        #expect(await QueueTestSupport.eventually { startedFirst.withLock { $0 } })
        let stopping = Task { await queue.stop() }
        #expect(await QueueTestSupport.eventually { cancelledSeen.withLock { $0 } })
        await queue.start()  // while stop() still waits for the old runner
        release.withLock { $0 = true }
        await stopping.value
        #expect(await queue.isRunning)
        // The new runner works: a new entry, due at once, is delivered.
        try await queue.enqueue(
            QueueTestSupport.entry(id: "second", nextAttemptAt: clock.now))
        #expect(await QueueTestSupport.eventually { delivered.withLock { $0 } == ["second"] })
        await queue.stop()
        #expect(await queue.isRunning == false)
    }
}

@Suite("Queue: the events stream ends with the queue")
struct QueueEventsLifetimeTests {
    @Test(
        "a started queue dropped without stop() is freed: its events stream finishes",
        .timeLimit(.minutes(1)))
    func droppedStartedQueue() async throws {
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        var queue: TestQueue? = TestQueue(store: InMemoryQueueStore(), clock: clock) {
            _ in .delivered
        }
        let events = try #require(queue?.events)
        let finished = Lock(false)
        let consumer = Task {
            for await _ in events {}
            finished.withLock { $0 = true }
        }
        defer { consumer.cancel() }
        await queue?.start()
        try await queue?.enqueue(QueueTestSupport.entry(id: "left-behind"))
        // The runner is asleep until the retry is due.
        #expect(await QueueTestSupport.eventually { clock.sleeperCount == 1 })
        queue = nil
        #expect(await QueueTestSupport.eventually { finished.withLock { $0 } })
        #expect(await QueueTestSupport.eventually { clock.sleeperCount == 0 })
    }

    @Test("the events stream finishes when a stopped queue is released", .timeLimit(.minutes(1)))
    func droppedStoppedQueue() async throws {
        var queue: TestQueue? = TestQueue(store: InMemoryQueueStore()) { _ in
            .delivered
        }
        let events = try #require(queue?.events)
        let finished = Lock(false)
        let consumer = Task {
            for await _ in events {}
            finished.withLock { $0 = true }
        }
        defer { consumer.cancel() }
        await queue?.start()
        await queue?.stop()
        queue = nil
        #expect(await QueueTestSupport.eventually { finished.withLock { $0 } })
    }
}

@Suite("Queue: the runner never spins")
struct QueueRunnerPaceTests {
    @Test(
        "a zero-gap schedule with the clock standing still: one retry per clock step, no spin",
        .timeLimit(.minutes(1)))
    func zeroGapDoesNotSpin() async throws {
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        let deliverer = CountingDeliverer(.deferred(reason: "temporary-failure"))
        let queue = TestQueue(
            store: InMemoryQueueStore(), schedule: RetrySchedule(firstRetry: .zero),
            clock: clock
        ) { deliverer.deliver($0) }
        await queue.start()
        try await queue.enqueue(QueueTestSupport.entry(id: "now", nextAttemptAt: clock.now))
        #expect(await QueueTestSupport.eventually { deliverer.count >= 1 })
        // Give a spinning runner time to show itself.
        try await Task.sleep(for: .milliseconds(300))
        #expect(deliverer.count == 1, "retried \(deliverer.count) times without the clock moving")
        #expect(await QueueTestSupport.eventually { clock.sleeperCount == 1 })
        // The runner wakes a second of clock time later, and tries again.
        clock.advance(by: .seconds(1))
        #expect(await QueueTestSupport.eventually { deliverer.count == 2 })
        await queue.stop()
    }
}
