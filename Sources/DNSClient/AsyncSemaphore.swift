import Sockets
import Synchronization

/// A counting semaphore for async code: ``acquire(deadline:)`` suspends (it never blocks a
/// thread) until a permit is free, the deadline passes, or the task is cancelled.
///
/// Waiters are served first come, first served: ``release()`` hands its permit straight to
/// the oldest waiter, so a newcomer never overtakes one already queued. Every waiter is
/// resumed exactly once, by whoever removes it from the table under the lock: the
/// releaser (with a permit), its deadline timer or its cancellation handler (without).
/// A permit is therefore never lost: `acquire` returns `true` only with a permit the
/// caller must give back, `false` only without one.
///
/// ```swift
/// let slots = AsyncSemaphore(permits: 256)
/// guard await slots.acquire(deadline: .now + .seconds(1)) else { return /* timed out */ }
/// defer { slots.release() }
/// ```
final class AsyncSemaphore: Sendable {
    private struct Waiter {
        var continuation: CheckedContinuation<Bool, Never>
        /// Withdraws the waiter at its deadline (on the loop's timers); cancelled once it
        /// is resumed otherwise.
        var timer: ScheduledTimer?
    }

    private struct State {
        /// Free permits. Invariant: greater than zero only while nobody waits (a release
        /// with waiters hands its permit over instead).
        var available: Int
        var inUse = 0
        var peak = 0
        var waiters: [UInt64: Waiter] = [:]
        /// Waiter ids in arrival order from `head` on; ids no longer in `waiters` (timed
        /// out, cancelled) are skipped when met.
        var order: [UInt64] = []
        var head = 0
        var nextID: UInt64 = 0

        mutating func take() {
            available -= 1
            inUse += 1
            peak = Swift.max(peak, inUse)
        }

        /// Drops the queue's bookkeeping once it holds no live waiter.
        mutating func compact() {
            if waiters.isEmpty {
                order.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 64, head * 2 > order.count {
                order.removeFirst(head)
                head = 0
            }
        }
    }

    /// The number of permits.
    let permits: Int
    /// Whose timers end waits at their deadlines.
    let loop: EventLoop
    private let state: Mutex<State>

    /// A semaphore with `permits` permits (at least one); deadlines on `loop`'s timers.
    init(permits: Int, loop: EventLoop = .shared) {
        self.permits = Swift.max(permits, 1)
        self.loop = loop
        self.state = Mutex(State(available: Swift.max(permits, 1)))
    }

    /// Permits held right now.
    var inUse: Int { state.withLock { $0.inUse } }

    /// The most permits ever held at once.
    var peak: Int { state.withLock { $0.peak } }

    /// Tasks waiting for a permit right now.
    var waiting: Int { state.withLock { $0.waiters.count } }

    /// Takes a permit, waiting for one until `deadline`.
    /// - Returns: `true` with a permit (give it back with ``release()``); `false` without
    ///   one, if `deadline` passed or the task was cancelled first.
    func acquire(deadline: ContinuousClock.Instant) async -> Bool {
        let ticket: UInt64? = state.withLock { state in
            if state.available > 0 {
                state.take()
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id = ticket else { return true }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                // The cancellation handler takes the same lock: either it ran first and
                // `Task.isCancelled` is seen here, or it will find the waiter to withdraw.
                let immediate: Bool? = state.withLock { state in
                    if state.available > 0 {
                        state.take()
                        return true
                    }
                    if Task.isCancelled || deadline <= .now { return false }
                    state.waiters[id] = Waiter(continuation: continuation)
                    state.order.append(id)
                    return nil
                }
                if let immediate {
                    continuation.resume(returning: immediate)
                    return
                }
                let timer = loop.schedule(at: deadline) { [weak self] in self?.withdraw(id) }
                let armed = state.withLock { state in
                    guard state.waiters[id] != nil else { return false }
                    state.waiters[id]!.timer = timer
                    return true
                }
                if !armed { loop.cancel(timer) }
            }
        } onCancel: {
            withdraw(id)
        }
    }

    /// Gives a permit back: to the oldest waiter if any, else to the pool.
    func release() {
        let next: Waiter? = state.withLock { state in
            while state.head < state.order.count {
                let id = state.order[state.head]
                state.head += 1
                if let waiter = state.waiters.removeValue(forKey: id) {
                    state.compact()
                    return waiter
                }
            }
            state.compact()
            precondition(state.inUse > 0, "AsyncSemaphore.release() without a permit")
            state.inUse -= 1
            state.available += 1
            return nil
        }
        if let timer = next?.timer { loop.cancel(timer) }
        next?.continuation.resume(returning: true)
    }

    /// Resumes waiter `id` without a permit, if it still waits.
    private func withdraw(_ id: UInt64) {
        let waiter: Waiter? = state.withLock { state in
            guard let waiter = state.waiters.removeValue(forKey: id) else { return nil }
            state.compact()
            return waiter
        }
        if let timer = waiter?.timer { loop.cancel(timer) }
        waiter?.continuation.resume(returning: false)
    }
}
