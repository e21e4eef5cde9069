import Sockets
import Synchronization
import Testing

@testable import DirectSMTP

@Suite("Deadline scheduler", .timeLimit(.minutes(1)))
struct DeadlineSchedulerTests {
    @Test("Actions run at their deadlines, in deadline order; a cancelled one never runs")
    func order() async throws {
        let scheduler = DeadlineScheduler()
        let fired = Lock<[(Int, ContinuousClock.Instant)]>([])
        let start = ContinuousClock.now
        // A late one first, then earlier ones: each earlier one replaces the sleeper.
        for (label, offset) in [(3, 300), (1, 100), (2, 200), (4, 150)] {
            let id = scheduler.schedule(at: start + .milliseconds(offset)) {
                fired.withLock { $0.append((label, .now)) }
            }
            if label == 4 { scheduler.cancel(id) }
        }
        try await Task.sleep(for: .milliseconds(300 + Int(slack)))
        let result = fired.withLock { $0 }
        #expect(result.map(\.0) == [1, 2, 3])
        for (label, at) in result {
            #expect(start.duration(to: at) >= .milliseconds(label * 100))
        }
        #expect(scheduler.pendingCount == 0)
    }

    @Test("Thousands of deadlines at once all fire")
    func many() async throws {
        let scheduler = DeadlineScheduler()
        let counter = Counter()
        let start = ContinuousClock.now
        for index in 0..<5_000 {
            _ = scheduler.schedule(at: start + .milliseconds(50 + index % 50)) { counter.bump() }
        }
        try await Task.sleep(for: .milliseconds(100 + Int(slack)))
        #expect(counter.value == 5_000)
    }
}

extension DeadlineSchedulerTests {
    @Test("Cancelling removes the deadline at once, and a stale handle never touches the slot's next user")
    func staleHandles() async throws {
        let scheduler = DeadlineScheduler()
        let fired = Counter()
        let far = ContinuousClock.now + .seconds(60)
        let first = scheduler.schedule(at: far) { fired.bump() }
        #expect(scheduler.pendingCount == 1)
        scheduler.cancel(first)
        #expect(scheduler.pendingCount == 0)  // gone now, not when its deadline comes
        // The freed slot is reused; the old handle must not cancel the new deadline.
        let second = scheduler.schedule(at: .now + .milliseconds(30)) { fired.bump() }
        scheduler.cancel(first)
        scheduler.cancel(first)
        #expect(scheduler.pendingCount == 1)
        try await Task.sleep(for: .milliseconds(30 + Int(slack)))
        #expect(fired.value == 1)
        scheduler.cancel(second)  // after it fired: harmless
        #expect(scheduler.pendingCount == 0)
    }

    @Test("Random schedules and cancels: exactly the deadlines not cancelled fire, in order")
    func randomAgainstAModel() async throws {
        let scheduler = DeadlineScheduler()
        let fired = Lock<[Int]>([])
        var generator = SystemRandomNumberGenerator()
        let start = ContinuousClock.now
        var live: [Int: DeadlineScheduler.Handle] = [:]
        var offsets: [Int: Int] = [:]
        // The earliest deadline is far enough out that none fires while the 2,000 are
        // scheduled, even on a loaded machine or under a sanitizer.
        for label in 0..<2_000 {
            let offset = 400 + Int.random(in: 0..<80, using: &generator)
            offsets[label] = offset
            live[label] = scheduler.schedule(at: start + .milliseconds(offset)) {
                fired.withLock { $0.append(label) }
            }
            // Cancel a random earlier one now and then (possibly twice: harmless).
            if Bool.random(using: &generator), let victim = live.keys.randomElement(using: &generator) {
                scheduler.cancel(live[victim]!)
                live[victim] = nil
            }
        }
        #expect(scheduler.pendingCount == live.count)
        try await Task.sleep(until: start + .milliseconds(480 + Int(slack)))
        let result = fired.withLock { $0 }
        #expect(Set(result) == Set(live.keys))
        #expect(result.count == live.count)  // none twice
        // Fired in deadline order (batches fire together; within 1 ms tolerance).
        let firedOffsets = result.map { offsets[$0]! }
        #expect(zip(firedOffsets, firedOffsets.dropFirst()).allSatisfy { $0 <= $1 + 2 })
        #expect(scheduler.pendingCount == 0)
    }
}

/// An atomic counter a `@Sendable` closure may capture.
final class Counter: Sendable {
    private let storage = Atomic<Int>(0)
    func bump() { storage.add(1, ordering: .relaxed) }
    var value: Int { storage.load(ordering: .relaxed) }
}
