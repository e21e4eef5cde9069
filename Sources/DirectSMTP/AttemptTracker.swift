import Sockets

/// Where an attempt is; at the budget, this decides the deferred reason.
enum AttemptPhase: Sendable, Hashable {
    /// Waiting for DNS: the budget ending here gives `dns-unavailable`.
    case dns
    /// Racing MX hosts, no EHLO done: `no-reachable-host`.
    case connecting
    /// MAIL/RCPT/DATA on the winner: `budget-exceeded`.
    case transaction
}

/// The meeting point of one attempt (running on a worker of the ``WorkerPool``) and the
/// callers awaiting it, each with its own budget. Whichever comes first, the attempt's
/// outcome or a caller's deadline, decides what that caller gets; the decision is taken
/// under one lock, so an attempt can never start its transaction after a send caller was
/// told "deferred, not started" (which would risk a second delivery from the queue).
///
/// A call's whole hand-off lives here: one object, one waiter stored inline (a coalesced
/// probe's extra callers go to an array), the deadline in the shared ``DeadlineScheduler``
/// with this tracker as its target, and the job to cancel on abandonment. Nothing else is
/// allocated per call.
final class AttemptTracker: DeadlineTarget {
    /// A caller waiting. Its continuation is resumed exactly once: by whoever removes the
    /// waiter from the state under the lock (``finish(_:)`` or ``expire(_:)``), so an
    /// unchecked continuation is safe (and spares an allocation per call).
    private struct Waiter {
        var id: UInt64
        var continuation: UnsafeContinuation<VerificationOutcome, Never>
        var start: ContinuousClock.Instant
        var timer: DeadlineScheduler.Handle?
    }

    private struct State {
        var phase: AttemptPhase = .dns
        var lastTried: MailExchangerUsed?
        /// The DNS phase's duration, once known (the only timing known here; a
        /// dictionary made only for an expired outcome, not on every call).
        var dnsTook: Duration?
        var final: VerificationOutcome?
        /// The first caller waiting (a send has only this one): no array per call.
        var waiter: Waiter?
        /// Further callers: coalesced probes, a re-send waiting for its transaction.
        var moreWaiters: [Waiter] = []
        var nextWaiter: UInt64 = 0
        var abandoned = false
        var leftBehind = false
        /// The attempt finished (its outcome went to the waiters, or into `final`).
        var finished = false
        /// Cancelled shortly after the attempt is abandoned.
        var job: WorkerPool.Job?

        mutating func add(_ waiter: Waiter) {
            if self.waiter == nil {
                self.waiter = waiter
            } else {
                moreWaiters.append(waiter)
            }
        }

        mutating func removeWaiter(_ id: UInt64) -> Waiter? {
            if let first = waiter, first.id == id {
                waiter = nil
                return first
            }
            guard let index = moreWaiters.firstIndex(where: { $0.id == id }) else { return nil }
            return moreWaiters.remove(at: index)
        }
    }

    /// The recipient, for outcomes made here.
    let address: String
    /// Send mode: once a caller's budget ends before the transaction, it never starts.
    let abandonsBeforeTransaction: Bool
    private let state = Lock(State())

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
    /// was abandoned: the transaction must then not start. Asked again, it gives the same
    /// answer (an attempt in its transaction is never abandoned).
    func beginTransaction(on mx: MailExchangerUsed) -> Bool {
        state.withLock { state in
            if state.abandoned { return false }
            state.phase = .transaction
            state.lastTried = mx
            return true
        }
    }

    /// The job running the attempt: cancelled a moment after the attempt is abandoned, so
    /// its connection attempts stop. The caller has its answer first and never pays for
    /// the cancellation of sockets and tasks.
    func cancelsOnAbandon(_ job: WorkerPool.Job) {
        let abandoned = state.withLock { state in
            // Once finished, nothing is left to cancel (and keeping the job would only
            // keep it alive with this tracker).
            if !state.finished { state.job = job }
            return state.abandoned && !state.finished
        }
        if abandoned { Self.cancelSoon(job) }
    }

    /// Cancels `job` 20 ms from now, at low priority: when many budgets end at once, the
    /// callers' answers come before the clean-up.
    private static func cancelSoon(_ job: WorkerPool.Job?) {
        guard let job else { return }
        Task(priority: .low) {
            try? await Task.sleep(for: .milliseconds(20), tolerance: .milliseconds(10))
            job.cancel()
        }
    }

    /// The attempt's final outcome: every waiting caller gets it (with its own elapsed
    /// time). Returns the outcome back when a caller had already returned
    /// `budget-exceeded`, i.e. when it must be published as an event; `nil` otherwise.
    ///
    /// The outcome is moved, not copied, to the usual single caller (a copy costs a
    /// reference count per field). It is kept for callers still to come, unless this is a
    /// send whose only caller takes it now: nobody else can ask then.
    @discardableResult
    func finish(_ outcome: consuming VerificationOutcome) -> VerificationOutcome? {
        var outcome = outcome
        let (first, more, leftBehind) = state.withLock { state in
            let first = state.waiter
            state.waiter = nil
            let more = state.moreWaiters
            if !more.isEmpty { state.moreWaiters = [] }
            state.job = nil
            if first == nil || !more.isEmpty || !abandonsBeforeTransaction {
                state.final = outcome
            }
            state.finished = true
            return (first, more, state.leftBehind)
        }
        let now = ContinuousClock.now
        for waiter in more {
            var copy = outcome
            copy.elapsed = waiter.start.duration(to: now)
            Self.resume(waiter, with: copy)
        }
        guard let first else { return leftBehind ? outcome : nil }
        outcome.elapsed = first.start.duration(to: now)
        Self.resume(first, with: outcome)
        return nil
    }

    private static func resume(_ waiter: Waiter, with outcome: consuming VerificationOutcome) {
        if let timer = waiter.timer { DeadlineScheduler.shared.cancel(timer) }
        waiter.continuation.resume(returning: outcome)
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
                // The deadline first, then one lock to register: a deadline that passes
                // before the waiter is registered finds nothing to expire, and the
                // registration below sees the deadline passed.
                let timer = DeadlineScheduler.shared.schedule(at: deadline, self, token: id)
                let (immediate, abandonedNow): (VerificationOutcome?, WorkerPool.Job?) =
                    state.withLock { state in
                        if var final = state.final {
                            final.elapsed = start.duration(to: .now)
                            return (final, nil)
                        }
                        // Checked under the lock the cancellation handler also takes. A
                        // finished attempt whose outcome went to the only caller cannot
                        // be asked again (see finalOutcome); answer rather than wait.
                        if Task.isCancelled || deadline <= .now || state.finished {
                            assert(!state.finished, "the outcome went to a caller that asked again")
                            let wasAbandoned = state.abandoned
                            let outcome = expired(&state, start: start)
                            return (outcome, !wasAbandoned && state.abandoned ? state.job : nil)
                        }
                        state.add(
                            Waiter(id: id, continuation: continuation, start: start, timer: timer))
                        return (nil, nil)
                    }
                guard let immediate else { return }
                DeadlineScheduler.shared.cancel(timer)
                continuation.resume(returning: immediate)
                Self.cancelSoon(abandonedNow)
            }
        } onCancel: {
            expire(id)
        }
    }

    /// The attempt's own outcome, however long it takes (its step timeouts bound it) and
    /// whatever happens to the caller's task: what a re-send that got `budget-exceeded`
    /// waits for, so that it never answers "deferred" for a message then delivered.
    func finalOutcome(start: ContinuousClock.Instant) async -> VerificationOutcome {
        await withUnsafeContinuation {
            (continuation: UnsafeContinuation<VerificationOutcome, Never>) in
            let immediate: VerificationOutcome? = state.withLock { state in
                if var final = state.final {
                    final.elapsed = start.duration(to: .now)
                    return final
                }
                if state.finished {
                    // Cannot happen (a send's only caller took the outcome, so it was never
                    // told budget-exceeded); answer rather than wait forever.
                    assertionFailure("the outcome went to a caller that then asked again")
                    return expired(&state, start: start)
                }
                state.nextWaiter += 1
                state.add(Waiter(id: state.nextWaiter, continuation: continuation, start: start))
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    /// A caller's deadline passed (told by the ``DeadlineScheduler``).
    func deadlinePassed(_ token: UInt64) {
        expire(token)
    }

    /// Ends one caller's wait with the deferred outcome of the current phase.
    private func expire(_ id: UInt64) {
        let result: (Waiter, VerificationOutcome, WorkerPool.Job?)? = state.withLock { state in
            guard let waiter = state.removeWaiter(id) else { return nil }
            let wasAbandoned = state.abandoned
            let outcome = expired(&state, start: waiter.start)
            return (waiter, outcome, !wasAbandoned && state.abandoned ? state.job : nil)
        }
        guard let (waiter, outcome, abandonedNow) = result else { return }
        if let timer = waiter.timer { DeadlineScheduler.shared.cancel(timer) }
        waiter.continuation.resume(returning: outcome)
        Self.cancelSoon(abandonedNow)
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
