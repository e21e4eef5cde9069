import Sockets

/// The settings the racing core reads; ``VerificationCoordinator/Configuration`` makes them.
struct EngineSettings: Sendable {
    var smtpPort: Int = 25
    var staggerDelay: Duration = .milliseconds(250)
    var healthPenalty: Duration = .seconds(60)
    var probeCache = ProbeCachePolicy()
    var concurrencyPerDestination: Int = 50
    var refusesNonPublicAddresses = false
    var clock: @Sendable () -> ContinuousClock.Instant = { .now }
}

/// The core of the coordinator, generic over how MX hosts are found and how SMTP
/// connections are made (the real resolver and session in production, fakes in tests):
/// lookup, race, transaction, the budget, the caches, events and the queue hook.
final class DeliveryEngine<Lookup: MailExchangerLookup, Dialer: SMTPDialer>: Sendable {
    typealias Connection = Dialer.Connection
    /// Runs MAIL/RCPT/DATA (or MAIL/RCPT for a probe) on the winner of the race.
    typealias Transaction = @Sendable (Connection) async -> SessionResult
    /// Hands a deferred send to the queue; returns whether it was stored.
    typealias DeferredHandler = @Sendable (VerificationOutcome) async -> Bool
    /// Stores a send whose transaction outlived its budget until its final outcome (the
    /// queue's hold); returns how to settle it, or `nil` when it could not be stored.
    typealias HoldHandler = @Sendable (VerificationOutcome) async -> HeldSend.Settle?

    let lookup: Lookup
    let dialer: Dialer
    let settings: EngineSettings
    let health: HostHealthMemory
    let probeCache: ProbeCache
    let limiter: DestinationLimiter
    /// The race candidates of each destination, kept while DNS names the same hosts.
    let candidateCache = RaceCandidateCache()
    /// Final outcomes of sends that outlived their call, to every subscriber.
    let eventHub = EventHub<DeliveryEvent>(capacity: 10_000)
    /// Runs the attempts, outside the callers' tasks (see ``WorkerPool``).
    let workers: WorkerPool
    private let probesInFlight = Lock<[ProbeFlight: AttemptTracker]>([:])

    /// Identical probes in flight: same address (cache key) and sender. A pair, not a
    /// joined string: no string built per probe.
    private struct ProbeFlight: Hashable {
        var key: String
        var sender: String

        /// The address alone: probes of one address from several senders at once are
        /// rare, and equality still tells them apart; hashing both strings doubled the
        /// cost of every insertion and removal.
        func hash(into hasher: inout Hasher) {
            hasher.combine(key)
        }
    }

    init(lookup: Lookup, dialer: Dialer, settings: EngineSettings) {
        self.lookup = lookup
        self.dialer = dialer
        self.settings = settings
        self.health = HostHealthMemory(penalty: settings.healthPenalty, clock: settings.clock)
        self.probeCache = ProbeCache(policy: settings.probeCache, clock: settings.clock)
        self.limiter = DestinationLimiter(limit: settings.concurrencyPerDestination)
        self.workers = WorkerPool(executor: dialer.preferredExecutor)
    }

    deinit {
        eventHub.finish()
        workers.shutdown()
    }

    /// A new stream of the final outcomes of sends that outlived their call (see
    /// ``EventHub``: cancelling one consumer ends only its own stream).
    var events: AsyncStream<DeliveryEvent> { eventHub.subscribe() }

    // MARK: Send

    /// Delivers to `address` within `budget`. A transaction still running at the budget
    /// goes on in the background; its final outcome is published on ``events`` (and, when
    /// deferred, handed to `onDeferred`). A deferred outcome returned here is handed to
    /// `onDeferred` before returning, except `budget-exceeded` (it may still succeed).
    ///
    /// With `onHold`, a `budget-exceeded` send is stored before returning (`queued`), so a
    /// crash before its transaction ends loses nothing; its final outcome then settles the
    /// stored message (delivered or rejected: removed; deferred: scheduled for retry).
    ///
    /// With `awaitsTransaction` (the queue's re-sends), a transaction running at the budget
    /// or at the caller's cancellation is waited for (its step timeouts bound it) and its
    /// own outcome returned, with no event: a re-send answering "deferred" while its
    /// transaction goes on and delivers would make the queue send the message again.
    func send(
        to address: String,
        domain: String,
        messageID: String,
        budget: Duration,
        onDeferred: DeferredHandler?,
        onHold: HoldHandler? = nil,
        awaitsTransaction: Bool = false,
        patient: Bool = false,
        start: ContinuousClock.Instant = .now,
        transaction: @escaping Transaction
    ) async -> VerificationOutcome {
        let deadline = start + budget
        let tracker = AttemptTracker(address: address, abandonsBeforeTransaction: true)
        // Only when the caller gets budget-exceeded does the worker look here.
        let held = onHold != nil && !awaitsTransaction ? HeldSend() : nil
        let job = workers.submit {
            let outcome = await self.attempt(
                address: address, domain: domain, deadline: deadline, tracker: tracker,
                patient: patient, transaction: transaction)
            // `nil`: the caller has this outcome already; a re-send waiting for the
            // transaction gets it from the tracker too.
            guard let final = tracker.finish(outcome), !awaitsTransaction else { return }
            await self.publish(
                final, messageID: messageID, start: start, held: held, onDeferred: onDeferred)
        }
        tracker.cancelsOnAbandon(job)
        let outcome = await tracker.outcome(start: start, deadline: deadline)
        guard outcome.status == .deferred else { return outcome }
        return await deferred(
            outcome, start: start, tracker: tracker, awaitsTransaction: awaitsTransaction,
            held: held, onHold: onHold, onDeferred: onDeferred)
    }

    /// A deferred answer for `send`'s caller: held or queued as it says, or, for a
    /// re-send, the transaction's own outcome. Apart from `send`, which runs on every
    /// call: an async function's frame holds what all its paths keep across suspension
    /// points (see `attempt`).
    @inline(never)
    private func deferred(
        _ outcome: VerificationOutcome, start: ContinuousClock.Instant, tracker: AttemptTracker,
        awaitsTransaction: Bool, held: HeldSend?, onHold: HoldHandler?,
        onDeferred: DeferredHandler?
    ) async -> VerificationOutcome {
        var outcome = outcome
        if outcome.reason == .budgetExceeded {
            if awaitsTransaction {
                outcome = await tracker.finalOutcome(start: start)
            } else if let held, let onHold {
                // The transaction goes on; its message is stored now, not only if it ends
                // deferred. The worker settles it with the final outcome.
                let settle = await onHold(outcome)
                held.decide(settle)
                outcome.queued = settle != nil
                outcome.elapsed = start.duration(to: .now)
            }
        }
        if outcome.status == .deferred, outcome.reason != .budgetExceeded, let onDeferred {
            outcome.queued = await onDeferred(outcome)
        }
        return outcome
    }

    /// Settles (or queues) and publishes the final outcome of a send whose caller got
    /// `budget-exceeded`.
    @inline(never)  // the rare path, out of the worker's frame
    private func publish(
        _ final: VerificationOutcome, messageID: String, start: ContinuousClock.Instant,
        held: HeldSend?, onDeferred: DeferredHandler?
    ) async {
        var final = final
        final.elapsed = start.duration(to: .now)
        // Off the event loop: the queue's store is the application's code, and may
        // block (a database driver); the loop must keep serving sockets.
        let finished = final
        if let settle = await held?.settle() {
            final.queued = await withTaskExecutorPreference(globalConcurrentExecutor) {
                await settle(finished)
            }
        } else if final.status == .deferred, let onDeferred {
            final.queued = await withTaskExecutorPreference(globalConcurrentExecutor) {
                await onDeferred(finished)
            }
        }
        eventHub.publish(DeliveryEvent(messageID: messageID, outcome: final))
    }

    // MARK: Probe

    /// Asks whether `address` would be accepted (RCPT only) within `budget`, from the
    /// probe cache when fresh; identical probes (same address and sender) in flight share
    /// one attempt. An attempt outliving its callers' budgets runs on (bounded by the
    /// step timeouts) and fills the cache.
    func probe(
        _ address: String,
        domain: String,
        sender: String,
        budget: Duration,
        start: ContinuousClock.Instant = .now,
        transaction: @escaping Transaction
    ) async -> VerificationOutcome {
        let key = ProbeCache.key(for: address)
        if var cached = probeCache.outcome(for: key) {
            cached.elapsed = start.duration(to: .now)
            cached.fromCache = true
            return cached
        }
        let deadline = start + budget
        let flightKey = ProbeFlight(key: key, sender: sender)
        let (tracker, isNew) = probesInFlight.withLock { table in
            if let running = table[flightKey] { return (running, false) }
            let tracker = AttemptTracker(address: address, abandonsBeforeTransaction: false)
            table[flightKey] = tracker
            return (tracker, true)
        }
        if isNew {
            // The attempt is shared and outlives its callers' budgets, so the first caller's
            // deadline must not cut its DNS lookup short: a probe joining with a longer
            // budget would get dns-unavailable early, and the cache would never fill. The
            // resolver bounds its own lookups.
            let lookupDeadline = max(deadline, start + Self.detachedLookupLimit)
            workers.submit {
                let outcome = await self.attempt(
                    address: address, domain: domain, deadline: lookupDeadline, tracker: tracker,
                    transaction: transaction)
                self.probeCache.store(outcome, for: key)
                _ = self.probesInFlight.withLock { $0.removeValue(forKey: flightKey) }
                tracker.finish(outcome)
            }
        }
        return await tracker.outcome(start: start, deadline: deadline)
    }

    /// How long a probe attempt's DNS lookup may take once no caller waits for it any
    /// more: the resolver's own cap on a lookup.
    static var detachedLookupLimit: Duration { .seconds(120) }

    // MARK: The attempt

    /// DNS, race, transaction: the outcome regardless of any budget (the tracker applies
    /// the budget). `deadline` only bounds the DNS lookup.
    private func attempt(
        address: String,
        domain: String,
        deadline: ContinuousClock.Instant,
        tracker: AttemptTracker,
        patient: Bool = false,
        transaction: Transaction
    ) async -> VerificationOutcome {
        let start = ContinuousClock.now
        // The DNS phase's time, the only one measured here; the winner's outcome lays it
        // over the session's own timings.
        var timings: [TimingPhase: Duration] = [:]
        let list: RaceCandidateList
        if let literal = literalCandidates(domain) {
            list = literal
            tracker.beginConnecting(dnsTook: nil)
        } else {
            let answer = await lookup.mailExchangers(for: domain, deadline: deadline)
            let dnsTook = start.duration(to: .now)
            timings[.dns] = dnsTook
            switch answer {
            case .dnsUnavailable(let detail):
                return Self.ended(.dnsUnavailable, address, detail, timings)
            case .noMailServer(let detail):
                return Self.ended(.noMailServer, address, detail, timings)
            case .found(let hosts, let complete):
                list = candidates(for: domain, hosts: hosts, complete: complete)
            }
            tracker.beginConnecting(dnsTook: dnsTook)
        }
        let candidates: [RaceCandidate]
        switch list {
        case .ready(let dialable):
            candidates = health.ordered(dialable)
        case .none(let reason, let detail):
            return Self.ended(reason, address, detail, timings)
        }

        guard await limiter.acquire(domain) else {
            return Self.ended(
                .noReachableHost, address, "cancelled while waiting for a connection slot",
                timings)
        }
        defer { limiter.release(domain) }

        let race = await MXRace.run(
            candidates: candidates, stagger: settings.staggerDelay, dialer: dialer,
            patient: patient,
            onStart: { tracker.tried($0.used) },
            onWin: { _ = tracker.beginTransaction(on: $0.used) })
        // What follows the race is decided by synchronous steps (`settle`, `outcome`): an
        // async function keeps in its frame every value it holds across a suspension
        // point, and the bookkeeping's many temporaries made this frame 4 KB, written by
        // every call (cold memory under load); on the stack they cost nothing.
        var transcript = Transcript()
        let winner: (connection: Connection, candidate: RaceCandidate)
        switch settle(race, candidates: candidates.count, tracker: tracker, address: address) {
        case .failed(let attempts, var outcome):
            outcome.timings = timings
            outcome.recorded = await Self.losers(attempts)
            // Asked after the losers' clean-up, as the outcome is made: a cancellation
            // that came meanwhile says why no host answered.
            if outcome.detail == nil, Task.isCancelled { outcome.detail = "cancelled" }
            return outcome
        case .won(let connection, let candidate, let others, let allowed):
            if let others { transcript = await Self.losers(others) }
            guard allowed else {
                transcript += await connection.finish().transcript
                return VerificationOutcome(
                    reason: .noReachableHost, address: address, mx: candidate.used,
                    detail: "abandoned: the budget ended before the transaction",
                    recordedTimings: Timings(timings), recorded: transcript)
            }
            winner = (connection, candidate)
        }
        let result = await transaction(winner.connection)
        let record = await winner.connection.finish()
        return Self.outcome(
            of: result, record: record, winner: winner.candidate, address: address,
            timings: timings, losers: transcript)
    }

    /// The outcome of an attempt that ended before any SMTP conversation.
    @inline(never)  // synchronous on purpose: see `attempt`
    private static func ended(
        _ reason: OutcomeReason, _ address: String, _ detail: String?,
        _ timings: [TimingPhase: Duration]
    ) -> VerificationOutcome {
        VerificationOutcome(reason: reason, address: address, detail: detail, timings: timings)
    }

    /// What the attempt does once its race has ended.
    private enum AfterRace {
        /// A host completed EHLO first; `others` are the race's other attempts (`nil` when
        /// it ran alone, the usual case); `allowed`: the transaction may run (the budget
        /// has not ended).
        case won(Connection, RaceCandidate, others: [RaceAttempt<Connection>]?, allowed: Bool)
        /// No host completed EHLO: the outcome, but for the timings and the transcript of
        /// the attempts.
        case failed([RaceAttempt<Connection>], VerificationOutcome)
    }

    /// The race's result as the attempt's next step; teaches the health memory.
    @inline(never)  // synchronous on purpose: see `attempt`
    private func settle(
        _ race: RaceResult<Connection>, candidates: Int, tracker: AttemptTracker,
        address: String
    ) -> AfterRace {
        switch race {
        case .won(let connection, let winner, let attempts):
            // The winner entered the transaction phase the moment it won (`onWin`),
            // before the losers' clean-up and this bookkeeping (health, their
            // transcripts, an actor hop each): from the moment a host has finished EHLO,
            // a budget ending means budget-exceeded, never no-reachable-host with a ready
            // session thrown away (DESIGN.md). Asking again returns the decision taken then.
            let allowed = tracker.beginTransaction(on: winner.used)
            learn(from: attempts)
            return .won(
                connection, winner, others: attempts.count > 1 ? attempts : nil, allowed: allowed)
        case .failed(let attempts):
            learn(from: attempts)
            // Every candidate failed at connect, greeting or EHLO.
            let failures = attempts.compactMap { attempt -> (RaceCandidate, SessionResult)? in
                if case .failed(let result) = attempt.end { return (attempt.candidate, result) }
                return nil
            }
            // Rejected for good only if every candidate was tried and refused us: a race
            // stopped early (cancelled) leaves hosts that might have taken the message.
            let allRefusedUs =
                !failures.isEmpty && failures.count == candidates
                && failures.allSatisfy { $0.1.verdict == .senderRejected }
            let last = failures.last
            return .failed(
                attempts,
                VerificationOutcome(
                    reason: allRefusedUs ? .senderRejected : .noReachableHost,
                    address: address,
                    mx: (last?.0 ?? attempts.last?.candidate)?.used,
                    reply: last?.1.reply,
                    detail: last?.1.detail,
                    recordedTimings: Timings(), recorded: Transcript()))
        }
    }

    /// Teaches the health memory a finished race; a cancelled one teaches nothing.
    private func learn(from attempts: [RaceAttempt<Connection>]) {
        if !Task.isCancelled {
            health.learn(from: attempts, stagger: settings.staggerDelay)
        }
    }

    /// The conversations of the race's failed candidates and a note for each one that
    /// lost, in the order they started (the winner's comes after its transaction).
    private static func losers(_ attempts: [RaceAttempt<Connection>]) async -> Transcript {
        var transcript = Transcript()
        for attempt in attempts {
            switch attempt.end {
            case .won, nil:
                break
            case .failed:
                transcript += await attempt.connection.finish().transcript
            case .lost(let ranFor):
                transcript.append(
                    TranscriptLine(
                        server: attempt.candidate.address.description, direction: .note,
                        text:
                            "abandoned after \(Int(ranFor.milliseconds)) ms: another host answered first"
                    ))
            }
        }
        return transcript
    }

    /// The outcome of the winner's transaction.
    @inline(never)  // synchronous on purpose: see `attempt`
    private static func outcome(
        of result: SessionResult, record: SessionRecord, winner: RaceCandidate,
        address: String, timings: [TimingPhase: Duration], losers: Transcript
    ) -> VerificationOutcome {
        var record = record
        for (phase, duration) in timings { record.timings.set(duration, for: phase) }
        var transcript = losers
        transcript += record.transcript  // the usual case, one host: taken as it is
        return VerificationOutcome(
            reason: reason(for: result.verdict),
            address: address,
            mx: winner.used,
            reply: result.reply,
            detail: result.detail,
            recordedTimings: record.timings,
            recorded: transcript)
    }

    /// The candidates of an address-literal domain (`[192.0.2.1]`), made once and then
    /// taken from the cache; `nil` when `domain` is not one.
    @inline(never)  // synchronous on purpose: see `attempt`
    private func literalCandidates(_ domain: String) -> RaceCandidateList? {
        guard domain.utf8.first == UInt8(ascii: "[") else { return nil }
        if let made = candidateCache.list(for: domain, hosts: nil, complete: true) { return made }
        guard let literal = Self.addressLiteral(domain) else { return nil }
        return candidateCache.list(for: domain, hosts: nil, complete: true) {
            Self.candidateList(
                [MailExchanger(name: domain, preference: 0, addresses: [literal])],
                complete: true, settings: settings)
        }
    }

    /// The candidates of the hosts DNS named for `domain`: from the cache while the answer
    /// is the same.
    @inline(never)  // synchronous on purpose: see `attempt`
    private func candidates(for domain: String, hosts: [MailExchanger], complete: Bool)
        -> RaceCandidateList
    {
        candidateCache.list(for: domain, hosts: hosts, complete: complete) {
            Self.candidateList(hosts, complete: complete, settings: settings)
        }
    }

    /// Every address of `hosts` that may be dialled, in order; or, when none may, why.
    static func candidateList(
        _ hosts: [MailExchanger], complete: Bool, settings: EngineSettings
    ) -> RaceCandidateList {
        var unusable: String?
        var refused: String?
        var dialable: [RaceCandidate] = []  // one array, not one per host and a join
        dialable.reserveCapacity(hosts.reduce(0) { $0 + $1.addresses.count })
        for host in hosts {
            for ip in host.addresses {
                do {
                    let server = try SocketAddress(ip, port: settings.smtpPort)
                    if settings.refusesNonPublicAddresses, !server.isPublic {
                        refused =
                            "\(host.name) is at \(server.ip), not a public address (refused by configuration)"
                        continue
                    }
                    dialable.append(RaceCandidate(host: host, address: server))
                } catch {
                    unusable = "cannot connect to \(ip) port \(settings.smtpPort): \(error)"
                }
            }
        }
        if !dialable.isEmpty { return .ready(dialable) }
        // DNS named hosts with addresses (the lookup never hands over a host without one):
        // if none can be dialled, the fault is ours (the SMTP port setting), never the
        // domain's, so deferred, not no-mail-server. Unless every address was refused as
        // not public: then the domain has no mail server we may use, for good if DNS gave
        // its whole answer; if some lookups failed, the hosts not seen may be public, so
        // that is DNS being unavailable, for now.
        let allRefused = refused != nil && unusable == nil
        let reason: OutcomeReason =
            hosts.isEmpty || (allRefused && complete)
            ? .noMailServer : allRefused ? .dnsUnavailable : .noReachableHost
        return .none(
            reason, detail: hosts.isEmpty ? "no MX host has an address" : unusable ?? refused)
    }

    /// A verdict of MAIL/RCPT/DATA as DESIGN.md's reason: a reply there is the verdict.
    static func reason(for verdict: SessionVerdict) -> OutcomeReason {
        switch verdict {
        case .accepted: .accepted
        case .senderRejected: .senderRejected
        case .recipientRejected: .recipientRejected
        case .temporaryFailure, .unreachable: .temporaryFailure
        }
    }

    /// The address of a domain literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`), if it is one.
    static func addressLiteral(_ domain: String) -> IPAddress? {
        guard domain.hasPrefix("["), domain.hasSuffix("]") else { return nil }
        var inner = domain.dropFirst().dropLast()
        // "IPv6:" in any case, compared byte by byte (no lower-cased copy per call).
        let tag = inner.utf8.prefix(5).lazy.map { (65...90).contains($0) ? $0 + 32 : $0 }
        if tag.elementsEqual("ipv6:".utf8) { inner = inner.dropFirst(5) }
        return IPAddress(String(inner))
    }
}
