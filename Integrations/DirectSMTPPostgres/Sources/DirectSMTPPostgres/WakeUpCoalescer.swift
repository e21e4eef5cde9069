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
    /// The pause before sending again for callers that came during a send.
    static let spacing: Duration = .milliseconds(20)

    /// Sends through `send` unless a send is under way, in which case that sender sends
    /// again after it.
    func signal(_ send: () async -> Void) async {
        guard becomeSender() else { return }
        await sendRounds(send)
    }

    /// As ``signal(_:)``, but the sending runs in a task of its own: the caller (an
    /// enqueue, answered once its row is committed) does not wait for the `NOTIFY`'s own
    /// commit. Starts a task only when no send is under way.
    func signalInBackground(_ send: @escaping @Sendable () async -> Void) {
        guard becomeSender() else { return }
        Task { await sendRounds(send) }
    }

    private func becomeSender() -> Bool {
        state.withLock { state in
            if state.sending {
                state.pending = true
                return false
            }
            state.sending = true
            return true
        }
    }

    private func sendRounds(_ send: () async -> Void) async {
        for round in 0..<maxRounds {
            // Spaced out: a `NOTIFY` is a transaction of its own, and under a stream of
            // enqueues back-to-back sends would take a connection and a share of the
            // server's CPU from the enqueues themselves. Idle listeners wake a few
            // milliseconds later; busy ones are not waiting for it.
            if round > 0 { try? await Task.sleep(for: Self.spacing) }
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
