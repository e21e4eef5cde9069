import Synchronization

/// Folds bursts of wake-up requests into a few sends.
///
/// PostgreSQL serialises the commits of transactions that `NOTIFY` (they take one lock
/// until their commit is flushed), so a `NOTIFY` per enqueue would cap enqueues at one
/// disk flush each. Instead the first caller sends; callers that arrive while it sends only
/// mark the need, and the sender sends once more for them. The sender stops after a few
/// rounds so that no caller waits on others' traffic; a need left over then is covered by
/// the next enqueue or by the listeners' poll.
final class WakeUpCoalescer: Sendable {
    private struct State {
        var sending = false
        var pending = false
    }

    private let state = Mutex(State())
    /// The most sends one caller makes in a row.
    private let maxRounds = 3

    /// Sends through `send` unless a send is under way, in which case that sender sends
    /// again after it.
    func signal(_ send: () async -> Void) async {
        let first = state.withLock { state in
            if state.sending {
                state.pending = true
                return false
            }
            state.sending = true
            return true
        }
        guard first else { return }
        for _ in 0..<maxRounds {
            await send()
            let again = state.withLock { state in
                if state.pending {
                    state.pending = false
                    return true
                }
                state.sending = false
                return false
            }
            if !again { return }
        }
        state.withLock { $0.sending = false }
    }
}
