import Synchronization

/// The final outcomes of sends whose callers got `deferred(budget-exceeded)`, by
/// Message-ID, for ``VerificationCoordinator/finalOutcome(for:)``: a caller waits for its
/// own send only, never for another's.
///
/// An entry is expected (as its caller is answered) and delivered, in either order, then
/// read once. Delivered outcomes nobody reads are kept for the newest `capacity` sends only.
final class FinalOutcomes: Sendable {
    private enum Entry {
        case waiting([CheckedContinuation<VerificationOutcome?, Never>])
        case delivered(VerificationOutcome)
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Delivered ids, oldest first, to bound what nobody reads.
        var delivered: [String] = []
    }

    let capacity: Int
    private let state = Mutex(State())

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
        let waiters: [CheckedContinuation<VerificationOutcome?, Never>] = state.withLock { state in
            // Kept even when not expected yet: the caller's answer (which expects it) may
            // be executed a moment after the final outcome is published.
            var waiters: [CheckedContinuation<VerificationOutcome?, Never>] = []
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
        for waiter in waiters { waiter.resume(returning: outcome) }
    }

    /// The final outcome for `messageID` once it comes; `nil` when none is expected (or
    /// it was read already, or dropped as too old). The transaction's step timeouts bound
    /// the wait.
    func wait(for messageID: String) async -> VerificationOutcome? {
        await withCheckedContinuation { (continuation: CheckedContinuation<VerificationOutcome?, Never>) in
            let ready: VerificationOutcome?? = state.withLock { state in
                switch state.entries[messageID] {
                case nil:
                    return .some(nil)
                case .delivered(let outcome):
                    state.entries[messageID] = nil
                    return .some(outcome)
                case .waiting(var waiters):
                    waiters.append(continuation)
                    state.entries[messageID] = .waiting(waiters)
                    return .none
                }
            }
            if case .some(let outcome) = ready { continuation.resume(returning: outcome) }
        }
    }
}
