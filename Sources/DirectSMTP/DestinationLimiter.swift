import Sockets

/// At most `limit` attempts at once per destination (recipient domain), like Postfix's
/// `default_destination_concurrency_limit`; the others wait their turn, first come first
/// served. Waiting ends early when the waiting task is cancelled.
final class DestinationLimiter: Sendable {
    private struct Destination {
        var active = 0
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Bool, Never>)] = []
    }

    private struct State {
        var destinations: [String: Destination] = [:]
        var nextID: UInt64 = 0
    }

    let limit: Int
    private let state = Lock(State())

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Takes a slot for `destination`, waiting if all are taken. `false` when cancelled
    /// while waiting (no slot taken).
    func acquire(_ destination: String) async -> Bool {
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
                let immediate: Bool? = state.withLock { state in
                    if Task.isCancelled { return false }
                    // In place: a copy of the entry would copy its whole queue per waiter.
                    let taken = Self.takeOrQueue(
                        &state.destinations[destination, default: Destination()], limit,
                        (id, continuation))
                    return taken ? true : nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let cancelled: CheckedContinuation<Bool, Never>? = state.withLock { state in
                // In place, by index: when many waiters are cancelled at once (budgets
                // ending together), a copy of the entry per waiter made this quadratic.
                guard let slot = state.destinations.index(forKey: destination),
                    let index = state.destinations.values[slot].waiters.firstIndex(where: { $0.id == id })
                else { return nil }
                return state.destinations.values[slot].waiters.remove(at: index).continuation
            }
            cancelled?.resume(returning: false)
        }
    }

    /// Takes a slot of `entry` if one is free, else queues `waiter`; whether it took one.
    private static func takeOrQueue(
        _ entry: inout Destination, _ limit: Int,
        _ waiter: (id: UInt64, continuation: CheckedContinuation<Bool, Never>)
    ) -> Bool {
        if take(&entry, limit) { return true }
        entry.waiters.append(waiter)
        return false
    }

    /// Takes a slot of `entry` if one is free.
    private static func take(_ entry: inout Destination, _ limit: Int) -> Bool {
        guard entry.active < limit else { return false }
        entry.active += 1
        return true
    }

    /// Gives a slot back: to the first waiter, if any.
    func release(_ destination: String) {
        let next: CheckedContinuation<Bool, Never>? = state.withLock { state in
            // One hash of the destination: found once, changed in place by index.
            guard let index = state.destinations.index(forKey: destination) else { return nil }
            if !state.destinations.values[index].waiters.isEmpty {
                return state.destinations.values[index].waiters.removeFirst().continuation
            }
            state.destinations.values[index].active -= 1
            if state.destinations.values[index].active == 0 {
                state.destinations.remove(at: index)
            }
            return nil
        }
        next?.resume(returning: true)
    }

    /// Attempts running now for `destination` (for tests).
    func active(_ destination: String) -> Int {
        state.withLock { $0.destinations[destination]?.active ?? 0 }
    }
}
