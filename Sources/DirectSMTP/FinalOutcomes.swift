import Sockets

/// The final outcomes of sends whose callers got `deferred(budget-exceeded)`, by
/// Message-ID, for ``VerificationCoordinator/finalOutcome(for:)``: a caller waits for its
/// own send only, never for another's.
///
/// An entry is expected (as its caller is answered) and delivered, in either order, then
/// read once. Delivered outcomes nobody reads are kept for the newest `capacity` sends only.
final class FinalOutcomes: Sendable {
    /// A caller suspended in ``wait(for:)``, numbered so that its cancellation finds it.
    private typealias Waiter = (number: Int, continuation: CheckedContinuation<VerificationOutcome?, Never>)

    private enum Entry {
        case waiting([Waiter])
        case delivered(VerificationOutcome)
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Delivered ids, oldest first, to bound what nobody reads.
        var delivered: [String] = []
        var nextWaiter = 0
    }

    let capacity: Int
    private let state = Lock(State())

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// A final outcome for `messageID` will come.
    func expect(_ messageID: String) {
        state.withLock { state in
            if state.entries[messageID] == nil { state.entries[messageID] = .waiting([]) }
        }
    }

    /// The final outcome for `messageID` came: to its waiters, or kept for them.
    func deliver(_ outcome: VerificationOutcome, for messageID: String) {
        let waiters: [Waiter] = state.withLock { state in
            // Kept even when not expected yet: the caller's answer (which expects it) may
            // be executed a moment after the final outcome is published.
            var waiters: [Waiter] = []
            if case .waiting(let waiting) = state.entries[messageID] { waiters = waiting }
            if waiters.isEmpty {
                state.entries[messageID] = .delivered(outcome)
                state.delivered.append(messageID)
                if state.delivered.count > capacity + capacity / 8 {
                    for old in state.delivered.prefix(state.delivered.count - capacity) {
                        if case .delivered = state.entries[old] { state.entries[old] = nil }
                    }
                    state.delivered.removeFirst(state.delivered.count - capacity)
                }
            } else {
                state.entries[messageID] = nil
            }
            return waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: outcome) }
    }

    /// The final outcome for `messageID` once it comes; `nil` when none is expected (or
    /// it was read already, or dropped as too old), or when the calling task is cancelled
    /// (the entry stays for a later ask). The transaction's step timeouts bound the wait.
    func wait(for messageID: String) async -> VerificationOutcome? {
        let number = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<VerificationOutcome?, Never>) in
                let ready: VerificationOutcome?? = state.withLock { state in
                    switch state.entries[messageID] {
                    case nil:
                        return .some(nil)
                    case .delivered(let outcome):
                        state.entries[messageID] = nil
                        return .some(outcome)
                    case .waiting(var waiters):
                        // Cancelled before it got here: its handler found nothing to resume.
                        if Task.isCancelled { return .some(nil) }
                        waiters.append((number, continuation))
                        state.entries[messageID] = .waiting(waiters)
                        return .none
                    }
                }
                if case .some(let outcome) = ready { continuation.resume(returning: outcome) }
            }
        } onCancel: {
            let cancelled: CheckedContinuation<VerificationOutcome?, Never>? = state.withLock { state in
                guard case .waiting(var waiters) = state.entries[messageID],
                    let index = waiters.firstIndex(where: { $0.number == number })
                else { return nil }
                let waiter = waiters.remove(at: index)
                state.entries[messageID] = .waiting(waiters)
                return waiter.continuation
            }
            cancelled?.resume(returning: nil)
        }
    }
}
