import Sockets
import Synchronization
import Testing

@testable import DNSClient

/// Shared counters for tasks (an `Atomic` cannot be captured by an escaping closure).
private final class Tally: Sendable {
    let held = Atomic<Int>(0)
    let granted = Atomic<Int>(0)
    let overLimit = Atomic<Bool>(false)
    let order = Lock<[Int]>([])
}

extension DNSClientTests {
    /// The slots behind the query limit: deadlines, cancellation, first come first
    /// served, and no permit lost or created on any path.
    @Suite
    struct AsyncSemaphoreTests {
        @Test func permitsAreTakenWithoutWaitingWhileFree() async {
            let semaphore = AsyncSemaphore(permits: 2)
            #expect(await semaphore.acquire(deadline: .now + .seconds(1)))
            #expect(await semaphore.acquire(deadline: .now + .seconds(1)))
            #expect(semaphore.inUse == 2)
            semaphore.release()
            semaphore.release()
            #expect(semaphore.inUse == 0)
            #expect(semaphore.peak == 2)
        }

        @Test func aWaiterGivesUpAtItsDeadline() async {
            let semaphore = AsyncSemaphore(permits: 1)
            #expect(await semaphore.acquire(deadline: .now + .seconds(1)))
            let clock = ContinuousClock()
            let start = clock.now
            let got = await semaphore.acquire(deadline: .now + .milliseconds(80))
            let elapsed = start.duration(to: clock.now)
            #expect(!got)
            #expect(elapsed >= .milliseconds(70))
            #expect(elapsed < .milliseconds(500))
            #expect(semaphore.waiting == 0)
            #expect(semaphore.inUse == 1)
            semaphore.release()
            #expect(semaphore.inUse == 0)
            // The pool is whole: the permit is there for the next caller at once.
            #expect(await semaphore.acquire(deadline: .now))
            semaphore.release()
        }

        @Test func aPassedDeadlineFailsAtOnceWhenNoPermitIsFree() async {
            let semaphore = AsyncSemaphore(permits: 1)
            #expect(await semaphore.acquire(deadline: .now + .seconds(1)))
            #expect(!(await semaphore.acquire(deadline: .now - .milliseconds(1))))
            #expect(semaphore.waiting == 0)
            semaphore.release()
        }

        @Test func aCancelledWaiterLeavesAtOnceWithoutAPermit() async throws {
            let semaphore = AsyncSemaphore(permits: 1)
            #expect(await semaphore.acquire(deadline: .now + .seconds(1)))
            let waiter = Task { await semaphore.acquire(deadline: .now + .seconds(10)) }
            #expect(await eventually(within: .seconds(1)) { semaphore.waiting == 1 })
            let clock = ContinuousClock()
            let start = clock.now
            waiter.cancel()
            #expect(!(await waiter.value))
            #expect(start.duration(to: clock.now) < .milliseconds(300))
            #expect(semaphore.waiting == 0)
            semaphore.release()
            #expect(semaphore.inUse == 0)
        }

        @Test func anAlreadyCancelledTaskGetsNoPermitWhenItWouldWait() async {
            let semaphore = AsyncSemaphore(permits: 1)
            #expect(await semaphore.acquire(deadline: .now + .seconds(1)))
            let waiter = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return await semaphore.acquire(deadline: .now + .seconds(10))
            }
            #expect(!(await waiter.value))
            #expect(semaphore.waiting == 0)
            semaphore.release()
            #expect(semaphore.inUse == 0)
        }

        @Test func waitersAreServedInArrivalOrder() async throws {
            let semaphore = AsyncSemaphore(permits: 1)
            #expect(await semaphore.acquire(deadline: .now + .seconds(1)))
            let tally = Tally()
            var waiters: [Task<Void, Never>] = []
            for index in 0..<5 {
                waiters.append(
                    Task {
                        guard await semaphore.acquire(deadline: .now + .seconds(5)) else { return }
                        tally.order.withLock { $0.append(index) }
                        semaphore.release()
                    })
                // Queue them one after another.
                #expect(await eventually(within: .seconds(1)) { semaphore.waiting == index + 1 })
            }
            semaphore.release()
            for waiter in waiters { await waiter.value }
            #expect(tally.order.withLock { $0 } == [0, 1, 2, 3, 4])
            #expect(semaphore.inUse == 0)
            #expect(semaphore.peak == 1)
        }

        /// Many tasks, short deadlines, random cancellations, permits held briefly: at the
        /// end every permit is back and none was ever exceeded.
        @Test func noPermitIsLostOnAnyPath() async {
            let permits = 4
            let semaphore = AsyncSemaphore(permits: permits)
            let tally = Tally()
            await withTaskGroup(of: Void.self) { group in
                var tasks: [Task<Void, Never>] = []
                for index in 0..<400 {
                    let task = Task {
                        let patience = Duration.milliseconds(Int64(index % 7) * 3)
                        guard await semaphore.acquire(deadline: .now + patience) else { return }
                        tally.granted.add(1, ordering: .relaxed)
                        if tally.held.add(1, ordering: .relaxed).newValue > permits {
                            tally.overLimit.store(true, ordering: .relaxed)
                        }
                        try? await Task.sleep(for: .milliseconds(Int64(index % 3)))
                        tally.held.subtract(1, ordering: .relaxed)
                        semaphore.release()
                    }
                    tasks.append(task)
                    if index % 5 == 0 { tasks[index / 2].cancel() }
                }
                for task in tasks { group.addTask { await task.value } }
            }
            let exceeded = tally.overLimit.load(ordering: .relaxed)
            let grants = tally.granted.load(ordering: .relaxed)
            #expect(!exceeded)
            #expect(grants > 0)
            #expect(semaphore.inUse == 0)
            #expect(semaphore.waiting == 0)
            #expect(semaphore.peak <= permits)
            // Whole again: all four permits at once, without waiting.
            for _ in 0..<permits { #expect(await semaphore.acquire(deadline: .now)) }
            for _ in 0..<permits { semaphore.release() }
        }
    }
}
