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

    @Test("Cancelling a timer that already ran is harmless, even once its slot is reused")
    func cancelAfterFiring() async {
        let loop = EventLoop()
        defer { loop.shutdown() }
        let first = Lock<ScheduledTimer?>(nil)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let timer = loop.schedule(at: .now + .milliseconds(5)) { done.resume() }
            first.withLock { $0 = timer }
        }
        let ran = first.withLock { $0! }
        loop.cancel(ran)
        // The next timer takes the freed slot; the stale handle must not cancel it.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let second = loop.schedule(at: .now + .milliseconds(20)) { done.resume() }
            #expect(second.slot == ran.slot)
            #expect(second.id != ran.id)
            loop.cancel(ran)
        }
    }

    @Test("Many timers, half cancelled: the rest run once each, in deadline order")
    func manyTimers() async {
        let loop = EventLoop()
        defer { loop.shutdown() }
        let fired = Lock<[Int]>([])
        let start = ContinuousClock.now
        let count = 400
        // Deadlines out of scheduling order: 7 is coprime with 400, so all distinct.
        let offsets = (0..<count).map { ($0 * 7) % count }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            var timers: [ScheduledTimer] = []
            for offset in offsets {
                let deadline = start + .milliseconds(100) + .microseconds(100 * offset)
                timers.append(loop.schedule(at: deadline) {
                    let total = fired.withLock { fired in
                        fired.append(offset)
                        return fired.count
                    }
                    if total == count / 2 { done.resume() }
                })
            }
            for (timer, offset) in zip(timers, offsets) where offset % 2 == 1 { loop.cancel(timer) }
        }
        // Past the last deadline: nothing cancelled ran late.
        try? await Task.sleep(for: .milliseconds(30))
        #expect(fired.withLock { $0 } == Array(stride(from: 0, to: count, by: 2)))
    }

    @Test("Compacting the heap's cancelled entries keeps the live timers")
    func compactionKeepsLive() async {
        let loop = EventLoop()
        defer { loop.shutdown() }
        let fired = Atomic<Int>(0)
        let start = ContinuousClock.now
        // Far more stale entries than live ones (the loop compacts above 1024 entries).
        var timers: [ScheduledTimer] = []
        for _ in 0..<3000 {
            timers.append(loop.schedule(at: start + .milliseconds(300)) {
                fired.add(1, ordering: .relaxed)
            })
        }
        for timer in timers.dropFirst(10) { loop.cancel(timer) }
        // A timer that fires first makes the loop take its due work and compact.
        await loop.sleep(until: start + .milliseconds(10))
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.schedule(at: start + .milliseconds(350)) { done.resume() }
        }
        #expect(fired.load(ordering: .relaxed) == 10)
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

@Suite("Timer actions")
struct TimerActionsTests {
    @Test("A slot is found by its timer's id only, and reused once freed")
    func slotsAndIDs() {
        var actions = TimerActions()
        let a = actions.insert({}, id: 1)
        let b = actions.insert({}, id: 2)
        #expect(a != b)
        #expect(actions.count == 2)
        #expect(actions.contains(id: 1, slot: a))
        #expect(!actions.contains(id: 2, slot: a))
        #expect(actions.remove(id: 2, slot: a) == nil)
        #expect(actions.remove(id: 1, slot: a) != nil)
        #expect(actions.remove(id: 1, slot: a) == nil)
        #expect(!actions.contains(id: 1, slot: a))
        let c = actions.insert({}, id: 3)
        #expect(c == a)
        #expect(!actions.contains(id: 1, slot: c))
        #expect(actions.remove(id: 1, slot: c) == nil)
        #expect(actions.contains(id: 3, slot: c))
        #expect(actions.remove(id: 9, slot: 99) == nil)
        #expect(actions.remove(id: 0, slot: UInt32.max) == nil)
        #expect(actions.count == 2)
        #expect(actions.removeAll().count == 2)
        #expect(actions.count == 0)
        #expect(!actions.contains(id: 2, slot: b))
    }
}
