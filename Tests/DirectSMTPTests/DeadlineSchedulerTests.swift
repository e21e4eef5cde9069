import Synchronization
import Testing

@testable import DirectSMTP

@Suite("Deadline scheduler", .timeLimit(.minutes(1)))
struct DeadlineSchedulerTests {
    @Test("Actions run at their deadlines, in deadline order; a cancelled one never runs")
    func order() async throws {
        let scheduler = DeadlineScheduler()
        let fired = Mutex<[(Int, ContinuousClock.Instant)]>([])
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

/// An atomic counter a `@Sendable` closure may capture.
final class Counter: Sendable {
    private let storage = Atomic<Int>(0)
    func bump() { storage.add(1, ordering: .relaxed) }
    var value: Int { storage.load(ordering: .relaxed) }
}
