import Sockets
import Synchronization

/// One lookup in flight, shared by every caller that asks for the same domain meanwhile.
///
/// Each caller joins (``enroll()``), waits with its own deadline (``wait(deadline:)``) and
/// leaves when it has the result or gives up (deadline, cancellation). A caller that
/// gives up leaves the others undisturbed; when the last one leaves before the result is
/// in, nobody wants the answer any more: the flight is abandoned and its work cancelled,
/// which closes its sockets at once. An abandoned flight is never joined again, so the
/// next caller for the name starts a new one.
final class LookupFlight: Sendable {
    private struct State {
        var result: MXLookup?
        var waiters: [UInt64: CheckedContinuation<MXLookup?, Never>] = [:]
        /// The deadline timers of waiters that gave one.
        var timers: [UInt64: ScheduledTimer] = [:]
        var nextID: UInt64 = 0
        /// Callers that joined and have not left yet.
        var members = 0
        /// Every caller left before the result came: the work was cancelled.
        var abandoned = false
        /// The query work, cancelled when the flight is abandoned.
        var work: Task<Void, Never>?
    }

    private let state = Mutex(State())
    /// Whose timers end a caller's wait at its deadline.
    let loop: EventLoop

    /// A flight whose callers' deadlines run on `loop`'s timers.
    init(loop: EventLoop = .shared) {
        self.loop = loop
    }

    /// `true` once the result is in.
    var isCompleted: Bool { state.withLock { $0.result != nil } }

    /// `true` once every caller left before the result: the work was cancelled.
    var isAbandoned: Bool { state.withLock { $0.abandoned } }

    /// Joins as one more caller, who must then call ``wait(deadline:)`` (which leaves).
    /// - Returns: `false`, without joining, if the flight is finished (a later caller, after
    ///   the cache entry expired or for an uncacheable result, asks again) or abandoned.
    func enroll() -> Bool {
        state.withLock { state in
            guard state.result == nil, !state.abandoned else { return false }
            state.members += 1
            return true
        }
    }

    /// Hands over the task doing the work, to be cancelled if every caller leaves; it is
    /// cancelled at once if they all left already.
    func run(_ work: Task<Void, Never>) {
        let cancelNow = state.withLock { state in
            guard !state.abandoned else { return true }
            if state.result == nil { state.work = work }
            return false
        }
        if cancelNow { work.cancel() }
    }

    /// Hands `result` to every waiter, present and future.
    func complete(_ result: MXLookup) {
        let (waiters, timers) = state.withLock { state in
            state.result = result
            state.work = nil
            defer {
                state.waiters.removeAll()
                state.timers.removeAll()
            }
            return (state.waiters, state.timers)
        }
        for timer in timers.values { loop.cancel(timer) }
        for waiter in waiters.values { waiter.resume(returning: result) }
    }

    /// The result, or `nil` if `deadline` passed or the task was cancelled first. Leaves
    /// the flight on return (the caller must have joined with ``enroll()``).
    func wait(deadline: ContinuousClock.Instant?) async -> MXLookup? {
        defer { leave() }
        if let done = state.withLock({ $0.result }) { return done }
        return await waitForResult(deadline: deadline)
    }

    /// One caller fewer; the last one to leave before the result cancels the work.
    private func leave() {
        let work: Task<Void, Never>? = state.withLock { state in
            state.members -= 1
            guard state.members == 0, state.result == nil, !state.abandoned else { return nil }
            state.abandoned = true
            defer { state.work = nil }
            return state.work
        }
        work?.cancel()
    }

    /// Suspends until the result arrives; `nil` at once on cancellation, or at `deadline`
    /// (a timer of the loop withdraws the waiter).
    private func waitForResult(deadline: ContinuousClock.Instant?) async -> MXLookup? {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<MXLookup?, Never>) in
                let immediate: MXLookup?? = state.withLock { state in
                    if let result = state.result { return .some(result) }
                    if Task.isCancelled { return .some(nil) }
                    if let deadline, deadline <= .now { return .some(nil) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let immediate {
                    continuation.resume(returning: immediate)
                    return
                }
                guard let deadline else { return }
                // The waiter is stored first: a timer firing at once finds it. A result
                // that came meanwhile removed it, and the timer then finds nothing.
                let timer = loop.schedule(at: deadline) { [weak self] in self?.withdraw(id) }
                let armed = state.withLock { state in
                    guard state.waiters[id] != nil else { return false }
                    state.timers[id] = timer
                    return true
                }
                if !armed { loop.cancel(timer) }
            }
        } onCancel: {
            withdraw(id)
        }
    }

    /// Resumes waiter `id` without a result, if it still waits.
    private func withdraw(_ id: UInt64) {
        let (waiter, timer) = state.withLock {
            ($0.waiters.removeValue(forKey: id), $0.timers.removeValue(forKey: id))
        }
        if let timer { loop.cancel(timer) }
        waiter?.resume(returning: nil)
    }
}
