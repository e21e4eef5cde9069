import Sockets

/// Where the two sides of a send whose budget ended inside its transaction meet, when a
/// queue is attached: the caller stores the message at once (the queue's hold, so a crash
/// loses nothing) and leaves here how to settle it; the worker, with the transaction's
/// final outcome, takes that from here, waiting for the caller's store if it is still
/// running.
final class HeldSend: Sendable {
    /// Applies a held send's final outcome to the queue; whether the message is queued
    /// afterwards (a deferral stored).
    typealias Settle = @Sendable (VerificationOutcome) async -> Bool

    private enum State {
        /// The caller is storing; the worker may be waiting.
        case storing(waiter: CheckedContinuation<Settle?, Never>?)
        /// Stored (how to settle), or not (`nil`: the store failed).
        case decided(Settle?)
    }

    private let state = Lock(State.storing(waiter: nil))

    /// The caller's store ended: `settle` when the message is held, `nil` when it is not.
    /// Called exactly once.
    func decide(_ settle: Settle?) {
        let waiter: CheckedContinuation<Settle?, Never>? = state.withLock { state in
            guard case .storing(let waiter) = state else {
                assertionFailure("a held send is decided once")
                return nil
            }
            state = .decided(settle)
            return waiter
        }
        waiter?.resume(returning: settle)
    }

    /// How to settle the held send, once the caller's store has ended; `nil` when the
    /// store failed (the final outcome then goes to the queue as any deferral would).
    func settle() async -> Settle? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Settle?, Never>) in
            let decided: Settle?? = state.withLock { state in
                switch state {
                case .decided(let settle):
                    return .some(settle)
                case .storing(let waiter):
                    assert(waiter == nil, "one worker settles a held send")
                    state = .storing(waiter: continuation)
                    return .none
                }
            }
            if case .some(let settle) = decided { continuation.resume(returning: settle) }
        }
    }
}
