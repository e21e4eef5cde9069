import Foundation
import Testing

@testable import DirectSMTP

/// The schedule and the attempt count at their extremes: never a trap, never a loop over
/// the attempt count.
@Suite("Queue: schedule and attempt count at their bounds")
struct QueueScheduleBoundsTests {
    @Test("a cap of Int64.max seconds: a late attempt gets the cap, not an overflow trap")
    func hugeCap() {
        let schedule = RetrySchedule(maxInterval: .seconds(Int64.max))
        #expect(schedule.delay(afterAttempts: 10) == .seconds(300 * 512))
        let late = schedule.delay(afterAttempts: 80)
        #expect(late > .seconds(1_000_000_000_000))
        #expect(schedule.delay(afterAttempts: .max) == late)
    }

    @Test(
        "multiplier 1 and an enormous attempt count answer at once", .timeLimit(.minutes(1)))
    func noLoopOverAttempts() {
        let flat = RetrySchedule(firstRetry: .seconds(60), multiplier: 1)
        #expect(flat.delay(afterAttempts: .max) == .seconds(60))
        #expect(RetrySchedule.default.delay(afterAttempts: .max) == .seconds(3600))
        let gentle = RetrySchedule(
            firstRetry: .seconds(1), multiplier: 1.000_000_1, maxInterval: .seconds(Int64.max))
        #expect(gentle.delay(afterAttempts: .max) > .seconds(1))
    }

    @Test("fields changed after init to values init would correct are still safe")
    func mutatedFields() {
        var schedule = RetrySchedule.default
        schedule.multiplier = .nan
        #expect(schedule.delay(afterAttempts: 3) == .seconds(300))
        schedule.multiplier = .infinity
        #expect(schedule.delay(afterAttempts: 3) == .seconds(300))
        schedule.multiplier = 2
        schedule.maxInterval = .seconds(10)  // below the first gap: the cap wins
        #expect(schedule.delay(afterAttempts: 3) == .seconds(10))
        schedule.firstRetry = .seconds(-5)
        schedule.maxInterval = .seconds(-1)
        #expect(schedule.delay(afterAttempts: 3) == .zero)
    }

    @Test(
        "an entry whose attempt count is Int.max is retried without an overflow trap",
        .timeLimit(.minutes(1)))
    func attemptsSaturate() async throws {
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        var entry = QueueTestSupport.entry(id: "many")
        entry.attempts = .max
        let queue = TestQueue(store: InMemoryQueueStore([entry]), clock: clock) { _ in
            .deferred(reason: "temporary-failure")
        }
        clock.advance(by: .seconds(300))
        #expect(try await queue.runDue().deferred == 1)
        let after = try await queue.entries()
        #expect(after.map(\.attempts) == [.max])
        #expect(after.first?.nextAttemptAt == clock.now.addingTimeInterval(3600))
    }
}
