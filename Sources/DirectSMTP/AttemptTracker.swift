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

/// The meeting point of one probe attempt (running on a worker of the ``WorkerPool``,
/// shared by identical probes) and the callers awaiting it, each with its own budget.
/// Whichever comes first, the attempt's outcome or a caller's deadline, decides what that
/// caller gets; the attempt itself runs on (its step timeouts bound it) and fills the
/// probe cache. (A send needs none of this: its attempt runs in the caller's own task.)
///
/// A call's whole hand-off lives here: one object, one waiter stored inline (further
/// callers go to an array), and the deadline in the shared ``DeadlineScheduler`` with this
/// tracker as its target. Nothing else is allocated per call.
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
        /// The first caller waiting (usually the only one): no array per call.
        var waiter: Waiter?
        /// Further callers: coalesced probes.
        var moreWaiters: [Waiter] = []
        var nextWaiter: UInt64 = 0

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
    private let state = Mutex(State())

    init(address: String) {
        self.address = address
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

    /// The race has a winner: the transaction starts.
    func beginTransaction(on mx: MailExchangerUsed) {
        state.withLock { state in
            state.phase = .transaction
            state.lastTried = mx
        }
    }

    /// The attempt's final outcome: every waiting caller gets it (with its own elapsed
    /// time), and callers still to come (until the attempt leaves the in-flight table).
    func finish(_ outcome: consuming VerificationOutcome) {
        var outcome = outcome
        let (first, more) = state.withLock { state in
            let first = state.waiter
            state.waiter = nil
            let more = state.moreWaiters
            if !more.isEmpty { state.moreWaiters = [] }
            state.final = outcome
            return (first, more)
        }
        let now = ContinuousClock.now
        for waiter in more {
            var copy = outcome
            copy.elapsed = waiter.start.duration(to: now)
            Self.resume(waiter, with: copy)
        }
        guard let first else { return }
        outcome.elapsed = first.start.duration(to: now)
        Self.resume(first, with: outcome)
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
                let immediate: VerificationOutcome? = state.withLock { state in
                    if var final = state.final {
                        final.elapsed = start.duration(to: .now)
                        return final
                    }
                    // Checked under the lock the cancellation handler also takes.
                    if Task.isCancelled || deadline <= .now {
                        return expired(state, start: start)
                    }
                    state.add(Waiter(id: id, continuation: continuation, start: start, timer: timer))
                    return nil
                }
                guard let immediate else { return }
                DeadlineScheduler.shared.cancel(timer)
                continuation.resume(returning: immediate)
            }
        } onCancel: {
            expire(id)
        }
    }

    /// A caller's deadline passed (told by the ``DeadlineScheduler``).
    func deadlinePassed(_ token: UInt64) {
        expire(token)
    }

    /// Ends one caller's wait with the deferred outcome of the current phase.
    private func expire(_ id: UInt64) {
        let result: (Waiter, VerificationOutcome)? = state.withLock { state in
            guard let waiter = state.removeWaiter(id) else { return nil }
            return (waiter, expired(state, start: waiter.start))
        }
        guard let (waiter, outcome) = result else { return }
        if let timer = waiter.timer { DeadlineScheduler.shared.cancel(timer) }
        waiter.continuation.resume(returning: outcome)
    }

    /// The outcome for a caller whose budget ended now, in the attempt's current phase.
    private func expired(_ state: State, start: ContinuousClock.Instant) -> VerificationOutcome {
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
            detail = "the budget ended inside the SMTP transaction"
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
