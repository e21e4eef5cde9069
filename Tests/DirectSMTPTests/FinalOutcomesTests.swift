import Sockets
import Testing

@testable import DirectSMTP

@Suite("Final outcomes of sends that outlived their call")
struct FinalOutcomesTests {
    @Test("A waiter whose task is cancelled returns at once; the outcome waits for a later ask")
    func cancelledWaiterReturns() async {
        let finals = FinalOutcomes(capacity: 10)
        finals.expect("<a@test>")
        let waiter = Task { await finals.wait(for: "<a@test>") }
        try? await Task.sleep(for: .milliseconds(50))
        waiter.cancel()
        #expect(await Self.returns(waiter, within: .seconds(2)) == .some(nil))
        finals.deliver(VerificationOutcome(reason: .accepted, address: "a@test"), for: "<a@test>")
        #expect(await finals.wait(for: "<a@test>")?.reason == .accepted)
    }

    @Test("A task cancelled before it waits returns at once and leaves the entry")
    func cancelledBeforeWaiting() async {
        let finals = FinalOutcomes(capacity: 10)
        finals.expect("<b@test>")
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await finals.wait(for: "<b@test>")
        }
        #expect(await Self.returns(waiter, within: .seconds(2)) == .some(nil))
        finals.deliver(VerificationOutcome(reason: .accepted, address: "b@test"), for: "<b@test>")
        #expect(await finals.wait(for: "<b@test>")?.reason == .accepted)
    }

    @Test("Cancelling one of two waiters leaves the other to get the outcome")
    func otherWaiterStillServed() async {
        let finals = FinalOutcomes(capacity: 10)
        finals.expect("<c@test>")
        let leaving = Task { await finals.wait(for: "<c@test>") }
        let staying = Task { await finals.wait(for: "<c@test>") }
        try? await Task.sleep(for: .milliseconds(50))
        leaving.cancel()
        #expect(await Self.returns(leaving, within: .seconds(2)) == .some(nil))
        finals.deliver(VerificationOutcome(reason: .accepted, address: "c@test"), for: "<c@test>")
        #expect(await Self.returns(staying, within: .seconds(2))??.reason == .accepted)
    }

    /// `task`'s value if it returns within `limit` (`.some`), else `nil` (it is left running).
    private static func returns(
        _ task: Task<VerificationOutcome?, Never>, within limit: Duration
    ) async -> VerificationOutcome?? {
        let result = Lock<VerificationOutcome??>(nil)
        let watcher = Task {
            let value = await task.value
            result.withLock { $0 = .some(value) }
        }
        let deadline = ContinuousClock.now + limit
        while result.withLock({ $0 }) == nil, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        _ = watcher
        return result.withLock { $0 }
    }
}
