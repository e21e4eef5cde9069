import Synchronization

/// One lookup in flight, shared by every caller that asks for the same domain meanwhile.
/// Each caller waits with its own deadline; a caller that gives up (deadline, cancel)
/// leaves without disturbing the shared query or the other callers.
final class LookupFlight: Sendable {
    private struct State {
        var result: MXLookup?
        var waiters: [UInt64: CheckedContinuation<MXLookup?, Never>] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// `true` once the result is in: a finished flight is never joined, so a later caller
    /// (after the cache entry expired, or for an uncacheable result) asks again.
    var isCompleted: Bool { state.withLock { $0.result != nil } }

    /// Hands `result` to every waiter, present and future.
    func complete(_ result: MXLookup) {
        let waiters = state.withLock { state in
            state.result = result
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters.values { waiter.resume(returning: result) }
    }

    /// The result, or `nil` if `deadline` passed or the task was cancelled first.
    func wait(deadline: ContinuousClock.Instant?) async -> MXLookup? {
        if let done = state.withLock({ $0.result }) { return done }
        guard let deadline else { return await waitForResult() }
        return await withTaskGroup(of: MXLookup?.self) { group in
            group.addTask { await self.waitForResult() }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
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
