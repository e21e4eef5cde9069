import SMTPClient

/// Every rule of one attempt (DESIGN.md's race, budget and outcomes), as a pure value:
/// inputs in, actions out, no I/O, no clock of its own (each input says when it happened).
/// ``AttemptDriver`` feeds it what the sockets, the resolver, the loop's timers and the
/// queue report, and executes the actions it gives back (``Actions``).
///
/// The attempt goes resolving → waiting for a slot → racing → transacting → finished; the
/// callers' view (waiting, being stored in the queue, answered) lives in the same value.
/// The budget needs no rule of its own: when a caller's budget input arrives, the state
/// the attempt is in decides the answer (resolving: `dns-unavailable`; waiting for a slot
/// or racing: `no-reachable-host`; transacting: `budget-exceeded`).
///
/// Work nobody waits for never delays work somebody waits for: when the last caller
/// leaves before a host finished EHLO, the attempt stops (a send is then never started
/// later; a probe, answered by the cache or not at all, gives up too); when it leaves
/// during the transaction, the transaction goes on (a send's message may be on its way)
/// but the attempt gives its per-destination slot back.
struct AttemptStateMachine {
    /// What kind of call the attempt serves.
    enum Mode: Sendable, Hashable {
        /// One caller; its budget ending before the transaction abandons the attempt; inside
        /// the transaction the caller gets `budget-exceeded` and the transaction goes on,
        /// its final outcome published. With `queue`, deferrals are stored before the
        /// caller is answered, and a send whose budget ends mid-transaction is held.
        case send(queue: Bool)
        /// Callers join while it runs, each with its own budget; a transaction started
        /// runs to its end to fill the probe cache.
        case probe
        /// A queued message's re-send: one caller, who waits for a transaction started
        /// (answering "deferred" while it goes on to deliver would send the message twice).
        case redelivery
    }

    // Cases of the states and the inputs that carry an outcome (over 500 bytes) or a
    // session record are `indirect`: they then hold a pointer, so every enum of the
    // machine stays a few words (measured: 1.5 % fewer instructions per probe, 0.8 % per
    // send). The actions carry their outcome inline: it goes out once, and moves.

    /// Where the attempt is.
    enum State: Sendable {
        case resolving
        case waitingForSlot
        case racing
        case transacting(winner: Int)
        /// The outcome is known; the records of failed candidates are still coming.
        indirect case collecting(VerificationOutcome)
        /// Concluded (the outcome went out in the actions), or abandoned.
        case finished
    }

    /// What one caller sees.
    enum CallerView: Sendable, Hashable {
        case waiting
        /// Its answer is being stored in the queue first (a deferral, or a held send).
        case storing
        /// Answered, with this reason.
        case answered(OutcomeReason)
    }

    /// An instant as the machine keeps it: the time since one fixed instant of the
    /// process. `ContinuousClock.Instant` is not frozen (its module may change its layout),
    /// so the callers, the contestants and the inputs, holding one, had a layout known only
    /// at run time: each copy, switch and field access went through the runtime's type
    /// metadata and value witnesses, several hundred instructions per input.
    struct Moment: Sendable, Comparable {
        private static let origin = ContinuousClock.now
        private let sinceOrigin: Duration

        init(_ instant: ContinuousClock.Instant) {
            sinceOrigin = Self.origin.duration(to: instant)
        }

        func duration(to later: Moment) -> Duration { later.sinceOrigin - sinceOrigin }

        static func < (left: Moment, right: Moment) -> Bool { left.sinceOrigin < right.sinceOrigin }
    }

    struct Caller: Sendable {
        var id: Int
        var start: Moment
        /// When its budget ends (its budget input may come a moment later).
        var deadline: Moment
        var view: CallerView
    }

    /// One race contestant.
    struct Contestant: Sendable {
        enum End: Sendable {
            case won
            /// Boxed: a contestant that failed is rare, and its end is read on each pass
            /// over the contestants.
            indirect case failed(SMTPResult)
            case lost(ranFor: Duration)
        }

        var candidate: RaceCandidate
        var startedAt: Moment
        var end: End?
        /// A failed one's conversation, once collected (the winner's goes into the outcome).
        var record: SessionRecord?
        /// A failure was reported and its record has not come yet.
        var awaitingRecord = false
    }

    /// Where the queue work of a send stands.
    enum Store: Sendable {
        case idle
        /// Stored before the caller is answered with `outcome` (a deferral, a hold).
        indirect case forCaller(VerificationOutcome)
        /// The final outcome, being stored or settled before it is published.
        indirect case forFinal(VerificationOutcome)
    }

    enum Input: Sendable {
        /// What DNS named, as dialable candidates (health order applied), or why none.
        case resolved(RaceCandidateList, dnsTook: Duration?)
        case slotGranted
        case connected(Int)
        indirect case connectFailed(Int, SMTPResult)
        indirect case recordCollected(Int, SessionRecord)
        case staggerElapsed(generation: Int)
        case budgetElapsed(caller: Int)
        case callerCancelled(caller: Int)
        /// Another probe of the same address and sender joins.
        case callerJoined(caller: Int, start: Moment, deadline: Moment)
        indirect case transactionFinished(SMTPResult, SessionRecord)
        /// The queue store asked for finished: stored (`true`) or not.
        case storeFinished(queued: Bool)

        /// Another probe of the same address and sender joins, its times as the clock gives them.
        static func callerJoined(
            caller: Int, start: ContinuousClock.Instant, deadline: ContinuousClock.Instant
        ) -> Input {
            .callerJoined(caller: caller, start: Moment(start), deadline: Moment(deadline))
        }
    }

    /// What the driver does after one input, in the order of the fields. Each kind of
    /// action comes at most once per input, so they are a record, not a list: no array is
    /// made and grown per input. The driver gives ``handle(_:now:into:)`` a record of its
    /// own to fill, and reads it in place: the answer's outcome (over 500 bytes) is made
    /// once, where it is final, and moves out once, to its caller.
    struct Actions: Sendable {
        /// The lookup: start it, or stop it (nobody wants its answer).
        enum Lookup: Sendable { case start, cancel }
        /// The per-destination slot: ask for one, withdraw a request still waiting, or
        /// give the slot back.
        enum Slot: Sendable { case request, withdraw, release }
        /// An outcome handed to the queue (each store then feeds `storeFinished`) or to
        /// the events. Indirect: it is rare (a queue, a late final), and the actions of
        /// every input would otherwise carry room for a second outcome.
        indirect enum Handoff: Sendable {
            /// Store a deferred outcome in the queue.
            case enqueue(VerificationOutcome)
            /// Store a send whose budget ended mid-transaction, leased.
            case hold(VerificationOutcome)
            /// Apply the final outcome to the held entry.
            case settle(VerificationOutcome)
            /// The final outcome of a send whose caller got `budget-exceeded`.
            case publish(VerificationOutcome)
        }

        /// First: a caller answered finds its slot given back. (When a budget ends, the
        /// driver answers at once and does the rest a moment later.)
        var slot: Slot?
        /// The outcome for callers (and for a probe's cache): a caller waits for it. The
        /// callers one input answers all get the same outcome but for their own elapsed
        /// times; its own is `answering`'s.
        var answer: VerificationOutcome?
        /// Who gets `answer` itself; `nil` when nobody waits any more (a probe's outcome
        /// then goes to the cache only).
        var answering: Int?
        /// Callers answered before `answering`, each with a copy and its own elapsed time
        /// (probes sharing an attempt).
        var alsoAnswering: [(caller: Int, elapsed: Duration)] = []
        /// `answer` goes into the probe cache too, before the callers get it (the cache
        /// gives each hit its own elapsed time).
        var cache = false
        var handoff: Handoff?
        var lookup: Lookup?
        /// Contestants to stop (their dials cancelled, their connections closed).
        var close: [Int] = []
        /// What the health memory learns from a finished race.
        var unhealthy: [RaceCandidate] = []
        var healthy: RaceCandidate?
        var dial: Int?
        /// The next stagger tick, tagged.
        var stagger: Int?
        var transaction: Int?
        /// Nothing more will happen: drop timers and bookkeeping.
        var done = false

        /// Moves out what callers wait for (the answer, who gets it, whether the cache
        /// keeps it, and the hand-off to the queue that the answer reports), leaving the
        /// rest here: closing, the slot, the health memory.
        mutating func takeAnswer() -> Actions {
            var taken = Actions()
            swap(&taken.answer, &answer)
            swap(&taken.answering, &answering)
            swap(&taken.alsoAnswering, &alsoAnswering)
            swap(&taken.cache, &cache)
            swap(&taken.handoff, &handoff)
            return taken
        }
    }

    let mode: Mode
    /// The recipient, as outcomes report it.
    let address: String
    /// The message's, carried by every outcome of a send (`nil` for a probe).
    let messageID: String?
    let stagger: Duration
    private(set) var state = State.resolving
    private(set) var callers: [Caller]
    private(set) var candidates: [RaceCandidate] = []
    private(set) var contestants: [Contestant] = []
    private(set) var store = Store.idle
    /// A held send's entry: `nil` until the hold is decided.
    private(set) var held: Bool?
    /// A final outcome that came while its hold was still being stored.
    private var finalWaiting: VerificationOutcome?
    private var dnsTook: Duration?
    /// The contestant that finished EHLO first.
    private var winnerIndex: Int?
    private var holdsSlot = false
    private var running = 0
    private var staggerGeneration = 0
    private var reportedDone = false

    /// An attempt for one first caller; `start()` gives its first actions.
    init(
        mode: Mode, address: String, messageID: String? = nil, stagger: Duration, caller: Int,
        start: ContinuousClock.Instant, deadline: ContinuousClock.Instant
    ) {
        self.mode = mode
        self.address = address
        self.messageID = messageID
        self.stagger = stagger
        self.callers = [Caller(id: caller, start: Moment(start), deadline: Moment(deadline), view: .waiting)]
    }

    /// The first actions.
    func start() -> Actions { Actions(lookup: .start) }

    /// Whether another probe may still join (the attempt has not ended nor been given up).
    var acceptsCallers: Bool {
        switch state {
        case .finished: false
        default: true
        }
    }

    private var waitingCount: Int { callers.count { $0.view == .waiting } }

    // MARK: Inputs

    /// Feeds `input`, which happened `now`, into the machine; what to do goes into `actions`
    /// (a record the caller made empty for it).
    mutating func handle(
        _ input: consuming Input, now: ContinuousClock.Instant, into actions: inout Actions
    ) {
        let now = Moment(now)
        switch consume input {
        case .resolved(let list, let dnsTook):
            resolved(list, dnsTook: dnsTook, now: now, &actions)
        case .slotGranted:
            guard case .waitingForSlot = state else {
                actions.slot = .release  // granted too late: nobody needs it
                break
            }
            holdsSlot = true
            // A slot that comes when every waiting caller's budget has ended (their budget
            // inputs are on their way) starts nothing: nobody would get the answer.
            let expired = callers.filter { $0.view == .waiting && $0.deadline <= now }.map(\.id)
            if expired.count == waitingCount {
                for caller in expired { callerLeft(caller, cancelled: false, now: now, &actions) }
                break
            }
            state = .racing
            startNext(now: now, &actions)
        case .connected(let index):
            connected(index, now: now, &actions)
        case .connectFailed(let index, let result):
            connectFailed(index, result, now: now, &actions)
        case .recordCollected(let index, let record):
            guard contestants.indices.contains(index), contestants[index].awaitingRecord else { break }
            contestants[index].record = record
            contestants[index].awaitingRecord = false
            if case .collecting(let outcome) = state, !contestants.contains(where: \.awaitingRecord) {
                conclude(outcome, now: now, &actions)
            }
        case .staggerElapsed(let generation):
            guard case .racing = state, generation == staggerGeneration else { break }
            startNext(now: now, &actions)
        case .budgetElapsed(let caller):
            callerLeft(caller, cancelled: false, now: now, &actions)
        case .callerCancelled(let caller):
            callerLeft(caller, cancelled: true, now: now, &actions)
        case .callerJoined(let caller, let start, let deadline):
            callers.append(Caller(id: caller, start: start, deadline: deadline, view: .waiting))
        case .transactionFinished(let result, let record):
            guard case .transacting(let winner) = state else { break }
            // The winner's conversation is the deciding session's: its timings and TLS.
            var outcome = VerificationOutcome(
                reason: Self.reason(for: result.verdict), address: address,
                mx: contestants[winner].candidate.used, reply: result.reply,
                detail: result.detail, dnsDuration: dnsTook, timings: record.timings,
                transcript: record.transcript, tls: record.tls)
            outcome.classifyReply(of: result)  // the hint, incl. a reply after DATA
            outcome.catchAll = result.catchAll
            finish(consume outcome, now: now, &actions)
        case .storeFinished(let queued):
            storeFinished(queued: queued, now: now, &actions)
        }
        reportDoneIfOver(&actions)
    }

    private mutating func resolved(
        _ list: RaceCandidateList, dnsTook: Duration?, now: Moment,
        _ actions: inout Actions
    ) {
        guard case .resolving = state else { return }
        self.dnsTook = dnsTook
        switch list {
        case .none(let reason, let detail):
            let outcome = VerificationOutcome(
                reason: reason, address: address, detail: detail, dnsDuration: dnsTook)
            finish(outcome, now: now, &actions)
        case .ready(let candidates):
            self.candidates = candidates
            state = .waitingForSlot
            actions.slot = .request
        }
    }

    /// Starts the next candidate, and the stagger tick for the one after it.
    private mutating func startNext(now: Moment, _ actions: inout Actions) {
        guard contestants.count < candidates.count else { return }
        let index = contestants.count
        contestants.append(Contestant(candidate: candidates[index], startedAt: now))
        running += 1
        actions.dial = index
        staggerGeneration += 1
        if contestants.count < candidates.count {
            actions.stagger = staggerGeneration
        }
    }

    private mutating func connected(_ index: Int, now: Moment, _ actions: inout Actions) {
        guard case .racing = state, contestants[index].end == nil else {
            actions.close.append(index)  // won too late, or nobody waits any more
            return
        }
        contestants[index].end = .won
        winnerIndex = index
        running = 0
        staggerGeneration += 1
        for other in contestants.indices where contestants[other].end == nil {
            contestants[other].end = .lost(ranFor: contestants[other].startedAt.duration(to: now))
            actions.close.append(other)
        }
        learn(&actions)
        // From here on, a budget ending means budget-exceeded (DESIGN.md): a host finished EHLO.
        state = .transacting(winner: index)
        actions.transaction = index
    }

    private mutating func connectFailed(
        _ index: Int, _ result: SMTPResult, now: Moment, _ actions: inout Actions
    ) {
        guard case .racing = state, contestants[index].end == nil else { return }
        contestants[index].end = .failed(result)
        contestants[index].awaitingRecord = true
        running -= 1
        if contestants.count < candidates.count {
            startNext(now: now, &actions)  // a failure starts the next candidate at once
        } else if running == 0 {
            learn(&actions)
            finish(raceFailure(), now: now, &actions)
        }
    }

    /// Teaches the health memory a finished race: failures to connect or greet and losers
    /// slower than the stagger become unhealthy, the winner healthy.
    private func learn(_ actions: inout Actions) {
        for index in contestants.indices {
            switch contestants[index].end {
            case .won:
                actions.healthy = contestants[index].candidate
            case .failed(let result) where result.verdict == .unreachable:
                actions.unhealthy.append(contestants[index].candidate)
            case .lost(let ranFor) where ranFor >= stagger:
                actions.unhealthy.append(contestants[index].candidate)
            default:
                break
            }
        }
    }

    /// Every candidate failed at connect, greeting or EHLO: rejected for good only if
    /// every one answered 5xx, else no reachable host.
    private func raceFailure() -> VerificationOutcome {
        var last: (RaceCandidate, SMTPResult)?
        var allRefusedUs = !contestants.isEmpty && contestants.count == candidates.count
        for contestant in contestants {
            if case .failed(let result) = contestant.end {
                last = (contestant.candidate, result)
                if result.verdict != .senderRejected { allRefusedUs = false }
            } else {
                allRefusedUs = false
            }
        }
        var outcome = VerificationOutcome(
            reason: allRefusedUs ? .senderRejected : .noReachableHost, address: address,
            mx: (last?.0 ?? contestants.last?.candidate)?.used, reply: last?.1.reply,
            detail: last?.1.detail, dnsDuration: dnsTook)
        if let result = last?.1 { outcome.classifyReply(of: result) }
        return outcome
    }

    /// The outcome is known: conclude now, or once the failed candidates' records are in.
    private mutating func finish(
        _ outcome: consuming VerificationOutcome, now: Moment, _ actions: inout Actions
    ) {
        if contestants.contains(where: \.awaitingRecord) {
            state = .collecting(consume outcome)
        } else {
            conclude(consume outcome, now: now, &actions)
        }
    }

    /// The attempt's own outcome, complete: to the callers, the cache, the queue, the events.
    private mutating func conclude(
        _ outcome: consuming VerificationOutcome, now: Moment, _ actions: inout Actions
    ) {
        outcome.transcript = transcript(before: outcome.transcript)
        outcome.messageID = messageID
        state = .finished
        giveSlotBack(&actions)
        switch mode {
        case .probe:
            answerWaiting(outcome, now: now, cache: true, &actions)
        case .redelivery:
            answerWaiting(outcome, now: now, &actions)
        case .send(let queue):
            switch callers[0].view {
            case .waiting:
                if queue, outcome.status == .deferred {
                    callers[0].view = .storing
                    store = .forCaller(copy outcome)
                    actions.handoff = .enqueue(outcome)
                } else {
                    answerWaiting(outcome, now: now, &actions)
                }
            case .storing:
                // A held send's final waits for its hold to be stored; a deferral being
                // stored after an abandoned race has no final.
                if case .forCaller(let pending) = store, pending.reason == .budgetExceeded {
                    finalWaiting = outcome
                }
            case .answered(let reason):
                // Only a caller told budget-exceeded expects a final outcome.
                if reason == .budgetExceeded { deliverFinal(outcome, now: now, &actions) }
            }
        }
    }

    /// The final outcome of a send whose caller already has `budget-exceeded`.
    private mutating func deliverFinal(
        _ outcome: consuming VerificationOutcome, now: Moment, _ actions: inout Actions
    ) {
        outcome.elapsed = callers[0].start.duration(to: now)
        if held == true {
            store = .forFinal(copy outcome)
            actions.handoff = .settle(outcome)
        } else if case .send(queue: true) = mode, outcome.status == .deferred {
            store = .forFinal(copy outcome)
            actions.handoff = .enqueue(outcome)
        } else {
            actions.handoff = .publish(outcome)
        }
    }

    private mutating func storeFinished(
        queued: Bool, now: Moment, _ actions: inout Actions
    ) {
        switch store {
        case .idle:
            break
        case .forCaller(var outcome):
            store = .idle
            outcome.queued = queued
            if outcome.reason == .budgetExceeded {
                held = queued
                outcome.elapsed = callers[0].start.duration(to: now)
            }
            callers[0].view = .answered(outcome.reason)
            actions.answer = outcome
            actions.answering = callers[0].id
            if let final = finalWaiting {
                finalWaiting = nil
                deliverFinal(final, now: now, &actions)
            }
        case .forFinal(var outcome):
            store = .idle
            outcome.queued = queued
            actions.handoff = .publish(outcome)
        }
    }

    /// A caller's budget ended, or its task was cancelled: the state decides its answer.
    private mutating func callerLeft(
        _ id: Int, cancelled: Bool, now: Moment, _ actions: inout Actions
    ) {
        guard let index = callers.firstIndex(where: { $0.id == id }), callers[index].view == .waiting
        else { return }
        let inTransaction: Bool
        switch state {
        case .finished:
            return  // answered already (or being stored)
        case .resolving, .waitingForSlot, .racing:
            inTransaction = false
        case .transacting:
            inTransaction = true
        case .collecting(let known):
            // The outcome is known; only failed candidates' records were still to come.
            // It is every caller's now, without those transcripts, not a budget reason (a
            // race every host refused is no "no-reachable-host" to retry from the queue).
            conclude(known, now: now, &actions)
            return
        }
        // A re-send waits for a transaction started, whatever its budget.
        if inTransaction, mode == .redelivery { return }
        var outcome = budgetOutcome(start: callers[index].start, cancelled: cancelled, now: now)
        if case .send(queue: true) = mode {
            callers[index].view = .storing
            store = .forCaller(outcome)
            actions.handoff = inTransaction ? .hold(outcome) : .enqueue(outcome)
        } else {
            outcome.queued = false
            callers[index].view = .answered(outcome.reason)
            if let earlier = actions.answering, let elapsed = actions.answer?.elapsed {
                // Another caller left with the same input (a slot that came after their
                // deadlines): the same outcome, but for the elapsed time.
                actions.alsoAnswering.append((earlier, elapsed))
            }
            actions.answer = outcome
            actions.answering = id
        }
        guard waitingCount == 0 else { return }
        if inTransaction {
            giveSlotBack(&actions)  // the transaction goes on, without holding up others
        } else {
            abandon(&actions)
        }
    }

    /// The deferred outcome for a caller whose budget ended (or whose call was cancelled)
    /// in the current state.
    private func budgetOutcome(start: Moment, cancelled: Bool, now: Moment)
        -> VerificationOutcome
    {
        let reason: OutcomeReason
        let detail: String
        var mx: MailExchangerUsed?
        // A cancelled call is a budget ending now: the same reasons, its own words in logs.
        let ended = cancelled ? "the call was cancelled" : "the budget ended"
        switch state {
        case .resolving:
            reason = .dnsUnavailable
            detail = "\(ended) while waiting for DNS"
        case .transacting:
            reason = .budgetExceeded
            detail =
                mode == .probe
                ? "\(ended) inside the SMTP transaction"
                : "\(ended) inside the SMTP transaction; it goes on in the background"
            mx = winner?.used
        default:
            reason = .noReachableHost
            detail = "\(ended) before any MX host completed the greeting and EHLO"
            mx = contestants.last?.candidate.used
        }
        return VerificationOutcome(
            reason: reason, address: address, mx: mx, detail: detail,
            elapsed: start.duration(to: now), dnsDuration: dnsTook, messageID: messageID)
    }

    /// Nobody waits and no host is in a transaction: stop everything, start nothing more.
    private mutating func abandon(_ actions: inout Actions) {
        switch state {
        case .resolving:
            actions.lookup = .cancel
        case .waitingForSlot where !holdsSlot:
            actions.slot = .withdraw
        default:
            break
        }
        for index in contestants.indices where contestants[index].end == nil {
            contestants[index].end = .lost(ranFor: .zero)
            actions.close.append(index)
        }
        giveSlotBack(&actions)
        state = .finished
    }

    private mutating func giveSlotBack(_ actions: inout Actions) {
        if holdsSlot {
            holdsSlot = false
            actions.slot = .release
        }
    }

    /// Answers every waiting caller with its own elapsed time: the last one gets `outcome`
    /// itself, any others a copy; with `cache`, the outcome goes to the probe cache too
    /// (even when nobody waits any more).
    private mutating func answerWaiting(
        _ outcome: consuming VerificationOutcome, now: Moment, cache: Bool = false,
        _ actions: inout Actions
    ) {
        let last = callers.lastIndex(where: { $0.view == .waiting })
        if let last {
            for index in callers.indices[..<last] where callers[index].view == .waiting {
                actions.alsoAnswering.append((callers[index].id, callers[index].start.duration(to: now)))
                callers[index].view = .answered(outcome.reason)
            }
            outcome.elapsed = callers[last].start.duration(to: now)
            callers[last].view = .answered(outcome.reason)
            actions.answering = callers[last].id
        } else if !cache {
            return
        }
        actions.cache = cache
        actions.answer = outcome
    }

    private mutating func reportDoneIfOver(_ actions: inout Actions) {
        guard !reportedDone, case .finished = state, case .idle = store else { return }
        if case .some = finalWaiting { return }
        // A send whose caller is being answered from the queue store is not over yet.
        if callers.contains(where: { $0.view == .storing }) { return }
        reportedDone = true
        actions.done = true
    }

    // MARK: Outcome parts

    private var winner: RaceCandidate? {
        winnerIndex.map { contestants[$0].candidate }
    }

    /// The failed candidates' conversations and a note per loser, in the order they
    /// started, then the winner's (`winning`).
    private func transcript(before winning: [TranscriptEntry]) -> [TranscriptEntry] {
        var transcript: [TranscriptEntry] = []
        for index in contestants.indices {
            switch contestants[index].end {
            case .failed:
                transcript += contestants[index].record?.transcript ?? []
            case .lost(let ranFor):
                transcript.append(
                    TranscriptEntry(
                        server: contestants[index].candidate.address.description, direction: .note,
                        text:
                            "abandoned after \(Int(ranFor.milliseconds)) ms: another host answered first"
                    ))
            case .won, nil:
                break
            }
        }
        // The usual case, one host: the session's own array, not a copy.
        guard !transcript.isEmpty else { return winning }
        return transcript + winning
    }

    /// A verdict of MAIL/RCPT/DATA as DESIGN.md's reason: a reply there is the verdict.
    static func reason(for verdict: SMTPVerdict) -> OutcomeReason {
        switch verdict {
        case .accepted: .accepted
        case .senderRejected: .senderRejected
        case .recipientRejected: .recipientRejected
        case .temporaryFailure, .unreachable: .temporaryFailure
        }
    }
}
