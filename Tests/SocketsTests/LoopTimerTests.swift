import Synchronization
import Testing

@testable import Sockets

/// The loop's timers: the one timer facility (budgets, stagger, DNS deadlines).
@Suite("Loop timers", .timeLimit(.minutes(1)))
struct LoopTimerTests {
    @Test("A timer runs at its deadline, on the loop thread, in deadline order")
    func firesInOrder() async {
        let loop = EventLoop()
        defer { loop.shutdown() }
        let fired = Lock<[Int]>([])
        let start = ContinuousClock.now
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.schedule(at: start + .milliseconds(60)) {
                fired.withLock { $0.append(2) }
                done.resume()
            }
            loop.schedule(at: start + .milliseconds(30)) { fired.withLock { $0.append(1) } }
        }
        #expect(fired.withLock { $0 } == [1, 2])
        #expect(start.duration(to: .now) >= .milliseconds(60))
    }

    @Test("A cancelled timer never runs")
    func cancelled() async throws {
        let loop = EventLoop()
        defer { loop.shutdown() }
        let fired = Atomic<Int>(0)
        let timer = loop.schedule(at: .now + .milliseconds(20)) { fired.add(1, ordering: .relaxed) }
        loop.cancel(timer)
        try await Task.sleep(for: .milliseconds(80))
        #expect(fired.load(ordering: .relaxed) == 0)
    }

    @Test("Shutting the loop down runs pending timers at once rather than never")
    func shutdownRunsPending() async {
        let loop = EventLoop()
        let start = ContinuousClock.now
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.schedule(at: start + .seconds(30)) { done.resume() }
            loop.shutdown()
        }
        #expect(start.duration(to: .now) < .seconds(5))
    }

    @Test("Heap ticks round a deadline up and the time now down, and clamp far instants")
    func ticks() {
        let heap = TimerHeap()
        let origin = heap.origin
        let nudge = Duration(secondsComponent: 0, attosecondsComponent: 1)
        #expect(heap.ticks(origin, roundingUp: true) == 0)
        #expect(heap.ticks(origin + nudge, roundingUp: true) == 1)
        #expect(heap.ticks(origin + nudge, roundingUp: false) == 0)
        #expect(heap.ticks(origin - nudge, roundingUp: true) == 0)
        #expect(heap.ticks(origin - nudge, roundingUp: false) == -1)
        #expect(heap.ticks(origin + .milliseconds(1500), roundingUp: true) == 1_500_000_000)
        let far = heap.ticks(origin + .seconds(Int64.max / 2), roundingUp: true)
        #expect(far == 9_000_000_000_000_000_000)
    }
}

@Suite("Loop sleep", .timeLimit(.minutes(1)))
struct LoopSleepTests {
    @Test("sleep(until:) wakes at its deadline, or at once when cancelled")
    func sleepAndCancel() async {
        let loop = EventLoop()
        defer { loop.shutdown() }
        let start = ContinuousClock.now
        await loop.sleep(until: start + .milliseconds(30))
        #expect(start.duration(to: .now) >= .milliseconds(30))
        let task = Task { await loop.sleep(until: .now + .seconds(30)) }
        task.cancel()
        await task.value
        #expect(start.duration(to: .now) < .seconds(10))
    }
}
