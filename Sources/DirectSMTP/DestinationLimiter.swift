import Synchronization

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
    private let state = Mutex(State())

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Takes a slot for `destination`, waiting if all are taken. `false` when cancelled
    /// while waiting (no slot taken).
    func acquire(_ destination: String) async -> Bool {
        // The common case, a free slot: one lock, no continuation, no cancellation handler.
        let id: UInt64? = state.withLock { state in
            if Task.isCancelled { return 0 }
            if state.destinations[destination, default: Destination()].active < limit {
                state.destinations[destination, default: Destination()].active += 1
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return true }
        if id == 0 { return false }  // ids start at 1: 0 says cancelled
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let immediate: Bool? = state.withLock { state in
                    if Task.isCancelled { return false }
                    var entry = state.destinations[destination, default: Destination()]
                    if entry.active < limit {
                        entry.active += 1
                        state.destinations[destination] = entry
                        return true
                    }
                    entry.waiters.append((id, continuation))
                    state.destinations[destination] = entry
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let cancelled: CheckedContinuation<Bool, Never>? = state.withLock { state in
                guard var entry = state.destinations[destination],
                    let index = entry.waiters.firstIndex(where: { $0.id == id })
                else { return nil }
                let waiter = entry.waiters.remove(at: index)
                state.destinations[destination] = entry
                return waiter.continuation
            }
            cancelled?.resume(returning: false)
        }
    }

    /// Gives a slot back: to the first waiter, if any.
    func release(_ destination: String) {
        let next: CheckedContinuation<Bool, Never>? = state.withLock { state in
            guard var entry = state.destinations[destination] else { return nil }
            if !entry.waiters.isEmpty {
                let waiter = entry.waiters.removeFirst()
                state.destinations[destination] = entry
                return waiter.continuation
            }
            entry.active -= 1
            state.destinations[destination] = entry.active > 0 ? entry : nil
            return nil
        }
        next?.resume(returning: true)
    }

    /// Attempts running now for `destination` (for tests).
    func active(_ destination: String) -> Int {
        state.withLock { $0.destinations[destination]?.active ?? 0 }
    }
}
