import Synchronization

/// Where an attempt is; at the budget, this decides the deferred reason.
enum AttemptPhase: Sendable, Hashable {
    /// Waiting for DNS: the budget ending here gives `dns-unavailable`.
    case dns
    /// Racing MX hosts, no EHLO done: `no-reachable-host`.
    case connecting
    /// MAIL/RCPT/DATA on the winner: `budget-exceeded`.
    case transaction
}

/// The meeting point of one attempt (running in its own task) and the callers awaiting
/// it, each with its own budget. Whichever comes first, the attempt's outcome or a
/// caller's deadline, decides what that caller gets; the decision is taken under one lock,
/// so an attempt can never start its transaction after a send caller was told "deferred,
/// not started" (which would risk a second delivery from the queue).
final class AttemptTracker: Sendable {
    /// A caller waiting. Its continuation is resumed exactly once: by whoever removes the
    /// waiter from `State.waiters` under the lock (``finish(_:)`` or ``expire(_:)``), so
    /// an unchecked continuation is safe (and spares an allocation per call).
    private struct Waiter {
        var id: UInt64
        var continuation: UnsafeContinuation<VerificationOutcome, Never>
        var start: ContinuousClock.Instant
        var timer: UInt64?
    }

    private struct State {
        var phase: AttemptPhase = .dns
        var lastTried: MailExchangerUsed?
        /// The DNS phase's duration, once known (the only timing known here; a
        /// dictionary made only for an expired outcome, not on every call).
        var dnsTook: Duration?
        var final: VerificationOutcome?
        /// Usually one; a few for coalesced probes. An array: no hashing per call.
        var waiters: [Waiter] = []
        var nextWaiter: UInt64 = 0
        var abandoned = false
        var leftBehind = false
    }

    /// The recipient, for outcomes made here.
    let address: String
    /// Send mode: once a caller's budget ends before the transaction, it never starts.
    let abandonsBeforeTransaction: Bool
    private let state = Mutex(State())
    private let abandonHandler = Mutex<(@Sendable () -> Void)?>(nil)

    init(address: String, abandonsBeforeTransaction: Bool) {
        self.address = address
        self.abandonsBeforeTransaction = abandonsBeforeTransaction
    }

    // MARK: Told by the attempt

    /// The attempt moved on to racing MX hosts.
    func beginConnecting(dnsTook: Duration?) {
        state.withLock { state in
            state.phase = .connecting
            state.dnsTook = dnsTook
        }
    }

    /// A race candidate started: it becomes "the last one tried".
    func tried(_ mx: MailExchangerUsed) {
        state.withLock { $0.lastTried = mx }
    }

    /// The race has a winner. `false` when a caller's budget already ended and the attempt
    /// was abandoned: the transaction must then not start.
    func beginTransaction(on mx: MailExchangerUsed) -> Bool {
        state.withLock { state in
            if state.abandoned { return false }
            state.phase = .transaction
            state.lastTried = mx
            return true
        }
    }

    /// `true` once a send caller's budget ended before the transaction began.
    var isAbandoned: Bool { state.withLock { $0.abandoned } }

    /// What to do when the attempt is abandoned (cancel its task): run by whoever ends
    /// the caller's wait, after the caller has its answer, so the caller never pays for
    /// the cancellation of sockets and tasks.
    func onAbandon(_ handler: @escaping @Sendable () -> Void) {
        abandonHandler.withLock { $0 = handler }
    }

    /// The attempt's final outcome: every waiting caller gets it (with its own elapsed
    /// time). Returns `true` when a caller had already returned `budget-exceeded`, i.e.
    /// when the outcome must be published as an event.
    @discardableResult
    func finish(_ outcome: VerificationOutcome) -> Bool {
        let (waiters, leftBehind) = state.withLock { state in
            state.final = outcome
            let waiters = state.waiters
            state.waiters = []
            return (waiters, state.leftBehind)
        }
        let now = ContinuousClock.now
        for waiter in waiters {
            if let timer = waiter.timer { DeadlineScheduler.shared.cancel(timer) }
            var mine = outcome
            mine.elapsed = waiter.start.duration(to: now)
            waiter.continuation.resume(returning: mine)
        }
        return leftBehind
    }

    // MARK: Awaited by callers

    /// Waits for the outcome, but no later than `deadline` (nor past the caller's
    /// cancellation): then returns the deferred outcome the phase calls for.
    func outcome(start: ContinuousClock.Instant, deadline: ContinuousClock.Instant) async
        -> VerificationOutcome
    {
        let id = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation {
                (continuation: UnsafeContinuation<VerificationOutcome, Never>) in
                let immediate: VerificationOutcome? = state.withLock { state in
                    if var final = state.final {
                        final.elapsed = start.duration(to: .now)
                        return final
                    }
                    // Checked under the lock the cancellation handler also takes.
                    if Task.isCancelled || deadline <= .now {
                        return expired(&state, start: start)
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation, start: start))
                    return nil
                }
                if let immediate {
                    continuation.resume(returning: immediate)
                    if immediate.reason != .budgetExceeded, isAbandoned {
                        abandonHandler.withLock { $0 }?()
                    }
                    return
                }
                let timer = DeadlineScheduler.shared.schedule(at: deadline) { [self] in
                    expire(id)
                }
                let stale = state.withLock { state in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else {
                        return true
                    }
                    state.waiters[index].timer = timer
                    return false
                }
                if stale { DeadlineScheduler.shared.cancel(timer) }
            }
        } onCancel: {
            expire(id)
        }
    }

    /// Ends one caller's wait with the deferred outcome of the current phase.
    private func expire(_ id: UInt64) {
        let result: (Waiter, VerificationOutcome, Bool)? = state.withLock { state in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            let waiter = state.waiters.remove(at: index)
            let wasAbandoned = state.abandoned
            let outcome = expired(&state, start: waiter.start)
            return (waiter, outcome, !wasAbandoned && state.abandoned)
        }
        guard let (waiter, outcome, abandonedNow) = result else { return }
        if let timer = waiter.timer { DeadlineScheduler.shared.cancel(timer) }
        waiter.continuation.resume(returning: outcome)
        if abandonedNow { abandonHandler.withLock { $0 }?() }
    }

    /// The outcome for a caller whose budget ended now; marks the attempt abandoned or
    /// left behind as the phase says.
    private func expired(_ state: inout State, start: ContinuousClock.Instant)
        -> VerificationOutcome
    {
        let reason: OutcomeReason
        let detail: String
        switch state.phase {
        case .dns:
            reason = .dnsUnavailable
            detail = "the budget ended while waiting for DNS"
        case .connecting:
            reason = .noReachableHost
            detail = "the budget ended before any MX host completed the greeting and EHLO"
        case .transaction:
            reason = .budgetExceeded
            detail =
                abandonsBeforeTransaction
                ? "the budget ended inside the SMTP transaction; it goes on in the background"
                : "the budget ended inside the SMTP transaction"
        }
        if state.phase == .transaction {
            state.leftBehind = true
        } else if abandonsBeforeTransaction {
            state.abandoned = true
        }
        return VerificationOutcome(
            reason: reason,
            address: address,
            mx: state.phase == .dns ? nil : state.lastTried,
            detail: detail,
            elapsed: start.duration(to: .now),
            timings: state.dnsTook.map { [.dns: $0] } ?? [:])
    }
}
