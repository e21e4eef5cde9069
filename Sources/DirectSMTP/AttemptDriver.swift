import SMTPClient
import Sockets

/// How an attempt reaches the queue (a send with a queue configured).
struct QueueAccess: Sendable {
    /// Applies a held send's final outcome to its entry; whether it is still queued after.
    typealias Settle = @Sendable (VerificationOutcome) async -> Bool
    /// Stores a deferred send; whether it was stored.
    var enqueue: @Sendable (VerificationOutcome) async -> Bool
    /// Stores a send whose budget ended mid-transaction, leased; how to settle it, or
    /// `nil` when it could not be stored.
    var hold: @Sendable (VerificationOutcome) async -> Settle?
}

/// One call's attempt as the driver runs it: who to reach and how to talk to them.
struct AttemptRequest<Connection: SMTPConnection>: Sendable {
    /// Runs MAIL/RCPT/DATA (or MAIL/RCPT for a probe) on the winner of the race.
    typealias Transaction = @Sendable (Connection) async -> SMTPResult

    var mode: AttemptStateMachine.Mode
    var address: String
    var domain: String
    /// The address of an address-literal `domain` (`[192.0.2.1]`), as ``EmailAddress``
    /// parsed it: dialled with no lookup. `nil` for a host name.
    var literalAddress: IPAddress? = nil
    /// The message's, for events and ``VerificationCoordinator/finalOutcome(for:)``.
    var messageID: String?
    var start: ContinuousClock.Instant
    var budget: Duration
    var transaction: Transaction
    var queue: QueueAccess?
    /// A probe's place in the table of probes in flight (identical probes share an
    /// attempt), with its cache key; set by ``DeliveryEngine/probe(_:sender:)``.
    var flight: ProbeFlight?
    /// A probe that tests for a catch-all domain (it shares an attempt only with others
    /// that do).
    var testsCatchAll = false
    /// The dialer's long step timeouts (the queue's re-sends).
    var patient = false
    /// STARTTLS for this call; `nil`: the configured policy.
    var tls: TLSPolicy? = nil
}

/// Where one caller stands with the driver.
private enum CallerSlot {
    /// Neither suspended nor answered yet.
    case pending
    /// Suspended in ``AttemptDriver/wait(caller:deadline:)``, with its budget timer.
    case waiting(UnsafeContinuation<VerificationOutcome, Never>, ScheduledTimer)
    /// Answered before it suspended.
    indirect case answered(VerificationOutcome)
    /// Resumed with its answer.
    case resumed
}

/// What an ``AttemptDriver`` guards under its lock. Outside the generic driver: nested in
/// it, the type would be generic too, and every driver's creation and end would look up
/// its metadata at run time.
private struct AttemptDriverCore {
    var machine: AttemptStateMachine
    /// Caller 0, every attempt's (the only one of a send).
    var first = CallerSlot.pending
    /// The probes that joined, by caller number from 1 (numbered in the order they come:
    /// an array, not a table).
    var joined: [CallerSlot] = []
    /// By candidate index: the job dialling it (not the adopted dial's: see `adopted`).
    var dials: [WorkerPool.Job?] = []
    var resolve: WorkerPool.Job?
    /// The candidate the resolving job dials itself: its job is `resolve`, not copied
    /// into `dials` (with one candidate, as for an address literal, `dials` stays empty).
    var adopted: Int?
    var stagger: ScheduledTimer?
    var settle: QueueAccess.Settle?
    var nextCaller = 1
    var isDone = false

    subscript(caller id: Int) -> CallerSlot {
        get { id == 0 ? first : id <= joined.count ? joined[id - 1] : .pending }
        set {
            guard id > 0 else {
                first = newValue
                return
            }
            while joined.count < id { joined.append(.pending) }
            joined[id - 1] = newValue
        }
    }

    subscript(dial index: Int) -> WorkerPool.Job? {
        get { index == adopted ? resolve : index < dials.count ? dials[index] : nil }
        set {
            while dials.count <= index { dials.append(nil) }
            dials[index] = newValue
        }
    }
}

/// Executes an ``AttemptStateMachine``'s actions: lookups, dials and transactions run as
/// jobs of the engine's reused workers on the event loop, queue stores as tasks of this
/// attempt off the loop; budgets and the stagger are
/// timers of the loop; whatever they report goes back into the machine. The one place
/// where a call's state lives: the machine, the callers' continuations, the connections.
final class AttemptDriver<Lookup: MailExchangerLookup, Dialer: SMTPDialer>: Sendable {
    typealias Engine = DeliveryEngine<Lookup, Dialer>
    typealias Connection = Dialer.Connection
    typealias Machine = AttemptStateMachine

    let engine: Engine
    let request: AttemptRequest<Connection>
    private let core: Lock<AttemptDriverCore>

    /// An attempt whose first caller is number 0.
    init(engine: Engine, request: consuming AttemptRequest<Connection>) {
        self.engine = engine
        self.core = Lock(
            AttemptDriverCore(
                machine: Machine(
                    mode: request.mode, address: request.address, messageID: request.messageID,
                    stagger: engine.settings.staggerDelay, caller: 0, start: request.start,
                    deadline: request.start + request.budget)))
        self.request = request  // last: moved in, not copied
    }

    // MARK: Callers

    /// Starts the attempt and waits for caller 0's answer, by its budget at the latest.
    func run() async -> VerificationOutcome {
        await wait(caller: 0, budget: begin())
    }

    /// Starts the attempt; caller 0's budget timer. Synchronous, as is every use of an
    /// instant here: `ContinuousClock.Instant` is not frozen, so each one an async
    /// function holds (a local, a temporary) costs it a task allocation.
    private func begin() -> ScheduledTimer {
        var actions = core.withLock { $0.machine.start() }
        execute(&actions)
        return budgetTimer(caller: 0, deadline: request.start + request.budget)
    }

    /// Another probe joins: its caller number and budget timer, or `nil` when the
    /// attempt has ended.
    func join(start: ContinuousClock.Instant, deadline: ContinuousClock.Instant) -> (Int, ScheduledTimer)? {
        var actions = Machine.Actions()
        let joined: Int? = core.withLock { core in
            guard core.machine.acceptsCallers else { return nil }
            let id = core.nextCaller
            core.nextCaller += 1
            core.machine.handle(
                .callerJoined(caller: id, start: start, deadline: deadline), now: .now, into: &actions)
            return id
        }
        guard let joined else { return nil }
        execute(&actions)
        return (joined, budgetTimer(caller: joined, deadline: deadline))
    }

    /// The timer of the loop that ends caller `id`'s budget at `deadline`.
    private func budgetTimer(caller id: Int, deadline: ContinuousClock.Instant) -> ScheduledTimer {
        engine.loop.schedule(at: deadline) { [self] in
            handle(.budgetElapsed(caller: id))
        }
    }

    /// Waits for the answer of caller `id`: the machine's, or the one its budget (`timer`)
    /// or its task's cancellation calls for.
    func wait(caller id: Int, budget timer: ScheduledTimer) async -> VerificationOutcome {
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<VerificationOutcome, Never>) in
                let ready: VerificationOutcome? = core.withLock { core in
                    if case .answered(let answer) = core[caller: id] {
                        core[caller: id] = .resumed
                        return answer
                    }
                    core[caller: id] = .waiting(continuation, timer)
                    return nil
                }
                if let ready {
                    engine.loop.cancel(timer)
                    continuation.resume(returning: ready)
                }
            }
        } onCancel: {
            handle(.callerCancelled(caller: id))
        }
    }

    // MARK: Inputs and actions

    /// Feeds `input` to the machine and executes what it asks.
    func handle(_ input: Machine.Input) {
        var actions = Machine.Actions()
        core.withLock { $0.machine.handle(input, now: .now, into: &actions) }
        switch input {
        case .budgetElapsed, .callerCancelled:
            // The caller's answer now, the clean-up (closing sockets, giving the slot
            // back) by a timer of the loop 20 ms later: when a thousand budgets end
            // together, every caller is answered before the sockets' unwinding fills the
            // loop. (With the clean-up inline, the budget benchmark's median answer came
            // 20-40 ms late. A low-priority task per clean-up, sleeping the 20 ms, put a
            // thousand jobs on the callers' threads just as their answers arrived: in 15
            // runs each, the latest answer left the loop at up to 507.8 ms with the tasks,
            // 500.7 ms with the loop's timer.) The clean-up may hold nothing (one of
            // several probes leaving): a timer all the same, not a test of every kind of
            // action that a new kind could slip past.
            var answer = actions.takeAnswer()
            execute(&answer)
            let cleanUp = actions
            _ = engine.loop.schedule(at: .now + .milliseconds(20)) { [self] in
                var cleanUp = cleanUp
                execute(&cleanUp)
            }
        default:
            execute(&actions)
        }
    }

    /// What ``execute(_:adoptingDial:)`` leaves to its caller.
    private struct Executed {
        /// The first dial, with `adoptingDial`: for the calling job to run.
        var adopted: Dial?
        /// The candidate whose connection is to start the transaction, if one is.
        var transaction: Int?
    }

    /// Executes actions outside the lock (they may feed the machine again), in the order
    /// of their fields; a slot granted at once is the next round.
    /// With `adoptingDial`, the first dial is not given a job of its own but returned,
    /// for the calling job to run: the attempt's resolving job goes on with its first
    /// candidate, one hand-off fewer per call.
    @discardableResult
    private func execute(_ actions: inout Machine.Actions, adoptingDial: Bool = false) -> Executed {
        var executed = Executed()
        while true {
            var granted = false
            switch actions.slot {
            case .request: granted = engine.limiter.request(request.domain, for: self)
            case .withdraw: engine.limiter.withdraw(request.domain, for: self)
            case .release: engine.limiter.release(request.domain)
            case nil: break
            }
            if case .some = actions.answer {  // (not `!= nil`: that compares two outcomes)
                deliver(&actions)
            }
            if let handoff = actions.handoff {
                hand(handoff)
            }
            switch actions.lookup {
            case .start: startResolving()
            case .cancel: core.withLock { $0.resolve }?.cancel()
            case nil: break
            }
            for index in actions.close {
                // Its dial returns promptly once cancelled, and closes the connection.
                core.withLock { $0[dial: index] }?.cancel()
            }
            for candidate in actions.unhealthy {
                engine.health.markUnhealthy(candidate.ip)
            }
            if let candidate = actions.healthy {
                engine.health.markHealthy(candidate.ip)
            }
            if let index = actions.dial {
                if adoptingDial, executed.adopted == nil {
                    executed.adopted = adopt(index)
                } else {
                    dial(index)
                }
            }
            if let generation = actions.stagger {
                let timer = engine.loop.schedule(at: .now + engine.settings.staggerDelay) { [self] in
                    handle(.staggerElapsed(generation: generation))
                }
                let old = core.withLock { core in
                    defer { core.stagger = timer }
                    return core.stagger
                }
                if let old { engine.loop.cancel(old) }
            }
            if let index = actions.transaction {
                executed.transaction = index  // the winner's dial job goes on with it (`runDial`)
            }
            if actions.done {
                // The jobs' handles stay: a budget's clean-up, 20 ms behind the answer, may
                // still have dials to cancel (with a queue, the deferral can be stored and
                // the attempt end before it runs). A finished job's handle cancels nothing.
                let stagger: ScheduledTimer? = core.withLock { core in
                    core.isDone = true
                    return core.stagger
                }
                if let stagger { engine.loop.cancel(stagger) }
                engine.attemptEnded(self)
            }
            guard granted else { return executed }
            actions = Machine.Actions()
            core.withLock { $0.machine.handle(.slotGranted, now: .now, into: &actions) }
        }
    }

    /// The answer to the probe cache (borrowed), to the callers answered with copies,
    /// then to its own caller (moved out of `actions`, where it stays until it is stored).
    private func deliver(_ actions: inout Machine.Actions) {
        if actions.cache, case .some(let outcome) = actions.answer, let key = request.flight?.key {
            engine.probeCache.store(outcome, for: key)
        }
        for (caller, elapsed) in actions.alsoAnswering {
            guard case .some(var copy) = actions.answer else { break }
            copy.elapsed = elapsed
            var pending = Optional(consume copy)
            answer(caller, &pending)
        }
        if let caller = actions.answering {
            answer(caller, &actions.answer)
        }
    }

    /// An outcome to the queue (off the loop, then `storeFinished`) or to the events.
    private func hand(_ handoff: consuming Machine.Actions.Handoff) {
        switch consume handoff {
        case .enqueue(let outcome):
            guard let enqueue = request.queue?.enqueue else {
                handle(.storeFinished(queued: false))
                break
            }
            storeOffLoop { await enqueue(outcome) }
        case .hold(let outcome):
            guard let hold = request.queue?.hold else {
                handle(.storeFinished(queued: false))
                break
            }
            storeOffLoop { [self] in
                let settle = await hold(outcome)
                core.withLock { $0.settle = settle }
                return settle != nil
            }
        case .settle(let outcome):
            guard let settle = core.withLock({ $0.settle }) else {
                handle(.storeFinished(queued: false))
                break
            }
            storeOffLoop { await settle(outcome) }
        case .publish(let outcome):
            engine.publish(outcome)
        }
    }

    /// Answers `caller` with `pending`'s outcome, moved (never copied) from where the
    /// machine put it into the caller's slot under the lock, or to its continuation.
    private func answer(_ caller: Int, _ pending: inout VerificationOutcome?) {
        guard case .some(let reason) = pending?.reason else { return }
        if reason == .budgetExceeded, case .send = request.mode, let id = request.messageID {
            engine.finals.expect(id)  // before the caller can ask for it
        }
        let waiter = core.withLock {
            core -> (UnsafeContinuation<VerificationOutcome, Never>, ScheduledTimer)? in
            if case .waiting(let continuation, let timer) = core[caller: caller] {
                core[caller: caller] = .resumed
                return (continuation, timer)
            }
            core[caller: caller] = .answered(pending.take()!)
            return nil
        }
        guard let (continuation, timer) = waiter else { return }
        engine.loop.cancel(timer)
        continuation.resume(returning: pending.take()!)
    }

    // MARK: The work

    private func startResolving() {
        // Made under the lock: the task's first dial, adopted, finds its handle there.
        let stop = core.withLock { state in
            state.resolve = engine.workers.submit { [self] in
                // A literal needs no lookup: nothing to wait for, time or deadline to reckon.
                let first =
                    if let literal = request.literalAddress {
                        resolved(engine.literalCandidates(request.domain, address: literal), dnsTook: nil)
                    } else {
                        await lookUp()
                    }
                if let first { await runDial(first) }
            }
            return state.isDone
        }
        if stop { core.withLock { $0.resolve }?.cancel() }
    }

    /// The candidates from the domain's MX lookup; the first dial, as `resolved` says.
    private func lookUp() async -> Dial? {
        // A probe is shared: its first caller's deadline must not cut the lookup short
        // for one that joins with a longer budget (the resolver bounds its lookups, and
        // the attempt stops it when nobody waits any more).
        let deadline =
            request.mode == .probe
            ? max(request.start + request.budget, .now + Engine.detachedLookupLimit)
            : request.start + request.budget
        let (list, dnsTook) = await engine.lookedUpCandidates(for: request.domain, deadline: deadline)
        return resolved(list, dnsTook: dnsTook)
    }

    /// Feeds the machine the candidates; the first dial, for the resolving job to run
    /// itself. Synchronous: the machine's input is not held by the job's async frame.
    private func resolved(_ list: RaceCandidateList, dnsTook: Duration?) -> Dial? {
        var actions = Machine.Actions()
        core.withLock { $0.machine.handle(.resolved(list, dnsTook: dnsTook), now: .now, into: &actions) }
        return execute(&actions, adoptingDial: true).adopted
    }

    /// One dial: the candidate (fetched once, under the lock that also records the dial's
    /// job) and its connection.
    private struct Dial: Sendable {
        var index: Int
        var candidate: RaceCandidate
        var connection: Connection
    }

    /// A dial the resolving job runs itself: cancelling that job stops it.
    private func adopt(_ index: Int) -> Dial {
        let candidate = core.withLock { core in
            core.adopted = index
            return core.machine.candidates[index]
        }
        return Dial(
            index: index, candidate: candidate,
            connection: engine.dialer.connection(to: candidate.address, patient: request.patient))
    }

    /// Dials candidate `index` in a job of its own.
    private func dial(_ index: Int) {
        let candidate = core.withLock { $0.machine.candidates[index] }
        let dial = Dial(
            index: index, candidate: candidate,
            connection: engine.dialer.connection(to: candidate.address, patient: request.patient))
        let job = engine.workers.submit { [self] in
            await runDial(dial)
        }
        let stop = core.withLock { core in
            core[dial: index] = job
            return core.isDone
        }
        if stop { job.cancel() }
    }

    /// Connect, greeting, EHLO (and STARTTLS with EHLO again, as the policy says); then,
    /// if it wins, the transaction; a failed or losing connection is closed here too.
    ///
    /// The call's TLS policy, SNI the MX host name. Opportunistic TLS whose handshake fails
    /// is retried in plaintext on a new connection to the same address (see
    /// ``retryInPlaintext(_:after:)``); an address known to be TLS-broken gets plaintext
    /// at once, with a note in its transcript. The connection is opened here, not in an
    /// async function of its own: that was one more frame and executor check per dial, for
    /// a retry that is rare.
    private func runDial(_ dial: Dial) async {
        let index = dial.index
        let (policy, knownBroken) = tlsPolicy(for: dial.candidate)
        var connection = dial.connection
        var failure = await connection.openForRace(tls: policy, serverName: dial.candidate.host.name)
        var earlier: SessionRecord?
        if policy == .opportunistic, failure?.reason == .tlsHandshakeFailed, !Task.isCancelled {
            (connection, failure, earlier) = await retryInPlaintext(dial.candidate, after: connection)
        } else if knownBroken {
            let note = TranscriptEntry(
                server: dial.candidate.address.description, direction: .note,
                text: "plaintext: the TLS handshake with this address failed within the last hour")
            earlier = SessionRecord(transcript: [note], timings: [:])
        }
        if let failure {
            handle(.connectFailed(index, failure))
            handle(.recordCollected(index, Self.joined(earlier, await connection.finish())))
            return
        }
        var actions = Machine.Actions()
        core.withLock { $0.machine.handle(.connected(index), now: .now, into: &actions) }
        guard execute(&actions).transaction == index else {
            await connection.close()
            return
        }
        let result = await request.transaction(connection)
        let record = Self.joined(earlier, await connection.finish())
        handle(.transactionFinished(result, record))
    }

    /// The call's TLS policy for `candidate`: plaintext when it would be opportunistic but
    /// the address's TLS handshake failed lately (`knownBroken`).
    private func tlsPolicy(for candidate: RaceCandidate) -> (TLSPolicy, knownBroken: Bool) {
        let policy = request.tls ?? engine.settings.tlsPolicy
        if policy == .opportunistic, engine.tlsBroken.isUnhealthy(candidate.ip) { return (.off, true) }
        return (policy, false)
    }

    /// After an opportunistic TLS handshake with `candidate` failed on `failed`: the
    /// address is remembered as TLS-broken (later calls go straight to plaintext), and a
    /// new connection to it is opened in plaintext (the race's budget and cancellation
    /// bound it as any dial). Returns that connection, its failure if any, and the record
    /// of the failed TLS connection before it.
    private func retryInPlaintext(_ candidate: RaceCandidate, after failed: Connection) async
        -> (Connection, SMTPResult?, SessionRecord?)
    {
        engine.tlsBroken.markUnhealthy(candidate.ip)
        var earlier = await failed.finish()
        earlier.transcript.append(
            TranscriptEntry(
                server: candidate.address.description, direction: .note,
                text: "the TLS handshake failed: trying again in plaintext on a new connection"))
        earlier.tls = nil
        let retry = engine.dialer.connection(to: candidate.address, patient: request.patient)
        let retried = await retry.openForRace(tls: .off, serverName: candidate.host.name)
        return (retry, retried, earlier)
    }

    /// The deciding session's record, after the transcript of a failed TLS connection to
    /// the same address (its timings are not the deciding session's).
    private static func joined(_ earlier: SessionRecord?, _ record: SessionRecord) -> SessionRecord {
        guard let earlier else { return record }
        var record = record
        record.transcript = earlier.transcript + record.transcript
        return record
    }

    /// Runs a queue store off the loop: the store is the application's code and may block
    /// (a database driver); the loop must keep serving sockets.
    private func storeOffLoop(_ store: @escaping @Sendable () async -> Bool) {
        Task.detached { [self] in handle(.storeFinished(queued: await store())) }
    }
}

extension AttemptDriver: SlotWaiter {
    /// Feeds the machine the slot; `false` when it gives it straight back (nobody waits
    /// any more): the limiter then offers it to the next waiter, not `execute` through
    /// `release`, which would nest one call per such waiter.
    func slotGranted() -> Bool {
        var actions = Machine.Actions()
        core.withLock { $0.machine.handle(.slotGranted, now: .now, into: &actions) }
        let declined = actions.slot == .release
        if declined { actions.slot = nil }
        execute(&actions)
        return !declined
    }
}
