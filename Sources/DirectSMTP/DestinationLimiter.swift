import Synchronization

/// At most `limit` attempts at once per destination (recipient domain), like Postfix's
/// `default_destination_concurrency_limit`; the others wait their turn, first come first
/// served. Waiting ends early when the waiting task is cancelled or its deadline passes.
final class DestinationLimiter: DeadlineTarget {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Bool, Never>
        var timer: DeadlineScheduler.Handle?
    }

    private struct Destination {
        var active = 0
        var waiters: [Waiter] = []
    }

    private struct State {
        var destinations: [String: Destination] = [:]
        var nextID: UInt64 = 0
        /// The destination each waiter with a deadline waits for, to find it when the
        /// deadline passes.
        var waitingFor: [UInt64: String] = [:]
    }

    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Takes a slot for `destination`, waiting if all are taken. `false` when cancelled
    /// while waiting, or when `deadline` passes first (no slot taken).
    func acquire(_ destination: String, until deadline: ContinuousClock.Instant? = nil) async -> Bool {
        // The common case, a free slot: one lock, no continuation, no cancellation handler.
        let id: UInt64? = state.withLock { state in
            if Task.isCancelled { return 0 }
            // One hash of the destination: the slot is taken in place.
            let taken = Self.take(&state.destinations[destination, default: Destination()], limit)
            if taken { return nil }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return true }
        if id == 0 { return false }  // ids start at 1: 0 says cancelled
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                // The deadline first, then the registration: a deadline passing in between
                // finds no waiter, and the registration sees it passed.
                let timer = deadline.map { DeadlineScheduler.shared.schedule(at: $0, self, token: id) }
                let immediate: Bool? = state.withLock { state in
                    if Task.isCancelled { return false }
                    var entry = state.destinations[destination, default: Destination()]
                    if entry.active < limit {
                        entry.active += 1
                        state.destinations[destination] = entry
                        return true
                    }
                    if let deadline, deadline <= .now { return false }
                    entry.waiters.append(Waiter(id: id, continuation: continuation, timer: timer))
                    state.destinations[destination] = entry
                    if timer != nil { state.waitingFor[id] = destination }
                    return nil
                }
                if let immediate {
                    if let timer { DeadlineScheduler.shared.cancel(timer) }
                    continuation.resume(returning: immediate)
                }
            }
        } onCancel: {
            giveUp(id, destination: destination)
        }
    }

    /// A waiter's deadline passed (told by the ``DeadlineScheduler``).
    func deadlinePassed(_ token: UInt64) {
        guard let destination = state.withLock({ $0.waitingFor[token] }) else { return }
        giveUp(token, destination: destination)
    }

    /// Ends waiter `id`'s wait without a slot, if it still waits.
    private func giveUp(_ id: UInt64, destination: String) {
        let waiter: Waiter? = state.withLock { state in
            state.waitingFor[id] = nil
            guard var entry = state.destinations[destination],
                let index = entry.waiters.firstIndex(where: { $0.id == id })
            else { return nil }
            let waiter = entry.waiters.remove(at: index)
            state.destinations[destination] = entry
            return waiter
        }
        guard let waiter else { return }
        if let timer = waiter.timer { DeadlineScheduler.shared.cancel(timer) }
        waiter.continuation.resume(returning: false)
    }

    /// Takes a slot of `entry` if one is free.
    private static func take(_ entry: inout Destination, _ limit: Int) -> Bool {
        guard entry.active < limit else { return false }
        entry.active += 1
        return true
    }

    /// Gives a slot back: to the first waiter, if any.
    func release(_ destination: String) {
        let next: Waiter? = state.withLock { state in
            // One hash of the destination: found once, changed in place by index.
            guard let index = state.destinations.index(forKey: destination) else { return nil }
            if !state.destinations.values[index].waiters.isEmpty {
                let next = state.destinations.values[index].waiters.removeFirst()
                if next.timer != nil { state.waitingFor[next.id] = nil }
                return next
            }
            state.destinations.values[index].active -= 1
            if state.destinations.values[index].active == 0 {
                state.destinations.remove(at: index)
            }
            return nil
        }
        guard let next else { return }
        if let timer = next.timer { DeadlineScheduler.shared.cancel(timer) }
        next.continuation.resume(returning: true)
    }

    /// Attempts running now for `destination` (for tests).
    func active(_ destination: String) -> Int {
        state.withLock { $0.destinations[destination]?.active ?? 0 }
    }
}
