import Sockets

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
        var nextID: UInt64 = 0
        /// Callers that joined and have not left yet.
        var members = 0
        /// Every caller left before the result came: the work was cancelled.
        var abandoned = false
        /// The query work, cancelled when the flight is abandoned.
        var work: Task<Void, Never>?
    }

    private let state = Lock(State())

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
        let waiters = state.withLock { state in
            state.result = result
            state.work = nil
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters.values { waiter.resume(returning: result) }
    }

    /// The result, or `nil` if `deadline` passed or the task was cancelled first. Leaves
    /// the flight on return (the caller must have joined with ``enroll()``).
    func wait(deadline: ContinuousClock.Instant?) async -> MXLookup? {
        defer { leave() }
        if let done = state.withLock({ $0.result }) { return done }
        guard let deadline else { return await waitForResult() }
        return await withTaskGroup(of: MXLookup?.self) { group in
            group.addTask { await self.waitForResult() }
            group.addTask {
                // 1 ms tolerance: without one, dispatch may fire up to a tenth of the
                // interval late (timer coalescing), and the caller's deadline is a promise.
                try? await Task.sleep(until: deadline, tolerance: .milliseconds(1), clock: .continuous)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
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

    /// Suspends until the result arrives; `nil` at once on cancellation.
    private func waitForResult() async -> MXLookup? {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<MXLookup?, Never>) in
                let immediate: MXLookup?? = state.withLock { state in
                    if let result = state.result { return .some(result) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: nil)
        }
    }
}
