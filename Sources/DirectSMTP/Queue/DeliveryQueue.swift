import Foundation

/// The queue of deferred messages: retries them on a greylisting-aware schedule, purges
/// them after the maximum age, and reports what happens as events. The entries live in
/// the ``QueueStore`` only; the queue works them through leases it claims there, so any
/// number of queues (in this process, in other processes, on other machines for a shared
/// store) can run over one store without retrying one entry twice at once.
///
/// The queue knows nothing of DNS or SMTP: each run is given the function that re-sends
/// an entry (the coordinator's `redeliver`), and it answers with a ``RetryOutcome``.
/// Terminal outcomes (`delivered`, `rejected`) take the entry out of the store for good;
/// `deferred` schedules the next try; an entry older than ``RetrySchedule/maxAge`` is
/// purged with an `expired` event. The queue does not keep the function: nothing here
/// refers back to the coordinator.
///
/// ```swift
/// let store = try await FileJournalQueueStore.open(path: "/var/spool/myapp/queue.journal")
/// let queue = DeliveryQueue(store: store)
/// try await queue.enqueue(entry)          // durable when it returns
/// let runner = Task { await queue.run { entry in await coordinator.redeliver(entry) } }
/// // ... at shutdown:
/// runner.cancel(); await runner.value      // in-flight re-sends drained
/// ```
///
/// Every try is counted in ``QueueEntry/attempts``: an entry enqueued after a deferred send
/// has 1; the first retry makes it 2.
public actor DeliveryQueue {
    /// Bounds on the retries the queue runs at once.
    public struct Limits: Sendable, Hashable {
        /// Retries in flight at once, all domains together.
        public var maxConcurrentDeliveries: Int
        /// Retries in flight at once to one recipient domain (receivers throttle clients
        /// that open many connections).
        public var maxConcurrentPerDomain: Int

        /// Creates limits (each at least 1); by default 16 in all, 2 per domain.
        public init(maxConcurrentDeliveries: Int = 16, maxConcurrentPerDomain: Int = 2) {
            self.maxConcurrentDeliveries = max(maxConcurrentDeliveries, 1)
            self.maxConcurrentPerDomain = max(maxConcurrentPerDomain, 1)
        }
    }

    /// What one ``runDue(deliveringWith:)``, ``runAll(deliveringWith:)`` or
    /// ``purgeExpired(maxAge:)`` did: the events it produced, in order (they are also sent
    /// to ``events``).
    public struct RunSummary: Sendable, Hashable {
        /// The events of this run.
        public var events: [QueueEvent] = []

        /// Entries delivered.
        public var delivered: Int {
            events.count { if case .delivered = $0 { true } else { false } }
        }
        /// Entries rejected for good.
        public var rejected: Int { events.count { if case .rejected = $0 { true } else { false } } }
        /// Entries deferred again.
        public var deferred: Int {
            events.count { if case .retryScheduled = $0 { true } else { false } }
        }
        /// Entries purged as too old.
        public var expired: Int { events.count { if case .expired = $0 { true } else { false } } }
    }

    /// One re-send of an entry. It must return (bound its own time, and end promptly when
    /// its task is cancelled): a run waits for all its re-sends.
    public typealias Deliver = @Sendable (QueueEntry) async -> RetryOutcome

    /// Everything that happens to entries, in order: enqueued, delivered, rejected, retry
    /// scheduled, expired, store failures. Meant for one consumer; if nobody reads it, only
    /// the newest 10,000 events are kept. It finishes when the queue is released.
    public nonisolated let events: AsyncStream<QueueEvent>
    /// The retry schedule.
    public nonisolated let schedule: RetrySchedule
    /// The concurrency limits.
    public nonisolated let limits: Limits
    /// How long a claim leases an entry. A re-send still running at half its lease renews
    /// it, so the lease only has to outlast a stalled renewal, not the longest re-send;
    /// a process that dies leaves its entries to others after at most this long.
    public nonisolated let leaseDuration: Duration

    private let eventSink: AsyncStream<QueueEvent>.Continuation
    private let store: any QueueStore
    private let clock: any QueueClock
    private let observer: (any DeliveryObserver)?

    /// Settlements the store refused for a reason other than a lost lease (a full disk):
    /// tried again before every run, while the lease still holds the entry, so a
    /// delivered message is not sent again once the disk recovers. Leases this queue
    /// holds, not a copy of the entries.
    private var unsettled: [QueueLease: Settlement] = [:]
    /// One run at a time in this queue: the limits count one run's retries.
    private var runActive = false
    private var runWaiters: [CheckedContinuation<Void, Never>] = []
    /// The background loop's sleep, cancelled to wake it early.
    private var sleeper: Task<Void, Never>?
    private var wakeRequested = false

    private enum Settlement: Sendable, Hashable {
        case complete
        case giveUp(reason: String)
        case reschedule(attempts: Int, nextAttemptAt: Date, lastReason: String?)
    }

    /// Creates a queue over `store`. Nothing is read until it is needed.
    ///
    /// - Parameters:
    ///   - store: where entries live; ``FileJournalQueueStore`` for durability.
    ///   - schedule: when to retry and when to give up.
    ///   - limits: how many retries run at once, in all and per recipient domain.
    ///   - clock: the time source; ``ManualQueueClock`` in tests.
    ///   - leaseDuration: how long a claim holds an entry (at least a second; by default
    ///     10 minutes); renewed while a re-send runs.
    ///   - observer: told of every event (as a ``QueueActivity``, without the message),
    ///     besides ``events``.
    public init(
        store: any QueueStore,
        schedule: RetrySchedule = .default,
        limits: Limits = Limits(),
        clock: any QueueClock = SystemQueueClock(),
        leaseDuration: Duration = .seconds(600),
        observer: (any DeliveryObserver)? = nil
    ) {
        self.observer = observer
        self.store = store
        self.schedule = schedule
        self.clock = clock
        self.limits = limits
        self.leaseDuration = max(leaseDuration, .seconds(1))
        (events, eventSink) = AsyncStream.makeStream(
            of: QueueEvent.self, bufferingPolicy: .bufferingNewest(10_000))
    }

    deinit {
        eventSink.finish()
    }

    // MARK: Entries

    /// Stores `entry` durably; returns once the store has it (for
    /// ``FileJournalQueueStore``: after `fsync`). The entry keeps the
    /// ``QueueEntry/nextAttemptAt`` and ``QueueEntry/attempts`` it comes with.
    public func enqueue(_ entry: QueueEntry) async throws {
        try await store.enqueue(entry)
        emit(.enqueued(entry))
        wake()
    }

    /// Builds the entry for a send that just ended deferred (attempt 1, first retry per the
    /// schedule) and enqueues it.
    @discardableResult
    public func enqueueDeferred(
        from: String, to: String, data: [UInt8], requires8BitMIME: Bool = false,
        requiresSMTPUTF8: Bool = false, messageID: String, reason: String
    ) async throws -> QueueEntry {
        let now = clock.now
        let entry = QueueEntry(
            from: from, to: to, data: data, requires8BitMIME: requires8BitMIME,
            requiresSMTPUTF8: requiresSMTPUTF8, messageID: messageID, createdAt: now,
            nextAttemptAt: schedule.nextAttempt(afterAttempts: 1, at: now), attempts: 1,
            lastReason: reason)
        try await enqueue(entry)
        return entry
    }

    /// Stores a message whose send is still running (its caller's budget ended inside the
    /// SMTP transaction), durably and already leased by this queue for `leaseFor` (the
    /// transaction's bound): nobody retries, purges or settles it meanwhile. Settle it
    /// with ``settle(_:with:)``. If this process stops first, the lease expires and the
    /// entry is retried from its ``QueueEntry/nextAttemptAt``: at least once, since the
    /// transaction may have delivered it just before the process stopped.
    ///
    /// - Returns: the entry with its lease, as a claim returns them: a held send is a
    ///   lease like any other.
    public func hold(_ entry: QueueEntry, leaseFor: Duration) async throws -> ClaimedEntry {
        let lease = try await store.enqueueLeased(entry, leaseFor: leaseFor, now: clock.now)
        emit(.enqueued(entry))
        return ClaimedEntry(entry: entry, lease: lease)
    }

    /// Builds the entry for a send whose budget ended inside its transaction (no try
    /// ended yet: attempts 0; first retry per the schedule, and no earlier than the
    /// transaction's bound `leaseFor`) and holds it.
    public func hold(
        from: String, to: String, data: [UInt8], requires8BitMIME: Bool = false,
        requiresSMTPUTF8: Bool = false, messageID: String, reason: String, leaseFor: Duration
    ) async throws -> ClaimedEntry {
        let now = clock.now
        let entry = QueueEntry(
            from: from, to: to, data: data, requires8BitMIME: requires8BitMIME,
            requiresSMTPUTF8: requiresSMTPUTF8, messageID: messageID, createdAt: now,
            nextAttemptAt: max(
                schedule.nextAttempt(afterAttempts: 1, at: now), now.adding(leaseFor)),
            attempts: 0, lastReason: reason)
        return try await hold(entry, leaseFor: leaseFor)
    }

    /// Applies the outcome of a held entry's transaction, as a retry's: delivered and
    /// rejected take it out of the store, deferred schedules its next try (the
    /// transaction counts as a try). Returns whether the store recorded it: for a
    /// deferral, whether the message is queued for its next try. `false` for a lease
    /// no longer held (settled already, or expired and taken over).
    @discardableResult
    public func settle(_ held: ClaimedEntry, with outcome: RetryOutcome) async -> Bool {
        let events = await record(outcome, for: held)
        wake()
        return !events.contains {
            if case .storeFailed = $0 { true } else { false }
        }
    }

    /// Every entry in the store, oldest first (leased ones included).
    public func entries() async throws -> [QueueEntry] {
        try await store.list().sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    // MARK: Running

    /// One pass: settles again what the store refused before, purges expired entries,
    /// then claims every entry due now (within the limits, in batches) and re-sends each
    /// once through `deliver`; returns when all those re-sends have ended. Bounded: an
    /// entry re-sent in this pass is not claimed again in it. Passes of one queue take
    /// turns; other queues over the same store run alongside, on other entries.
    @discardableResult
    public func runDue(deliveringWith deliver: @escaping Deliver) async throws -> RunSummary {
        await beginRun()
        defer { endRun() }
        var summary = RunSummary()
        summary.events += await settleAgain()
        do {
            summary.events += try await purge(olderThan: schedule.maxAge)
        } catch where !Task.isCancelled {
            // Reported; the expired entries stay until a later pass can purge them.
            let failure = QueueEvent.storeFailed(
                entryID: "", message: "purging expired entries failed: \(error)")
            emit(failure)
            summary.events.append(failure)
        }
        summary.events += try await deliverDue(deliver)
        return summary
    }

    /// As ``runDue(deliveringWith:)``, but every entry no live lease holds is made due
    /// first (an operator's "retry everything now", `queue run --all`), when the store
    /// can (``QueueStoreMakingDue``; otherwise only due entries are retried). An entry
    /// held by a send still in its transaction keeps its lease and is left alone.
    @discardableResult
    public func runAll(deliveringWith deliver: @escaping Deliver) async throws -> RunSummary {
        if let store = store as? any QueueStoreMakingDue {
            _ = try await store.makeDue(now: clock.now)
        }
        return try await runDue(deliveringWith: deliver)
    }

    /// Removes, with an `expired` event each, the entries older than `maxAge` (the
    /// schedule's ``RetrySchedule/maxAge`` when `nil`). Entries under a live lease are
    /// left alone.
    @discardableResult
    public func purgeExpired(maxAge: Duration? = nil) async throws -> RunSummary {
        RunSummary(events: try await purge(olderThan: maxAge ?? schedule.maxAge))
    }

    /// Background work until the calling task is cancelled: runs passes, sleeping on the
    /// clock between them until the next retry or expiry is due, a new entry arrives here,
    /// or the store says something may be due (``QueueStoreNotifying``). When cancelled it
    /// starts no new re-send, lets those in flight end (they see the cancellation) and
    /// records their outcomes, then returns.
    public func run(deliveringWith deliver: @escaping Deliver) async {
        await withTaskGroup(of: Void.self) { group in
            if let notifying = store as? any QueueStoreNotifying {
                let notifications = notifying.dueNotifications()
                group.addTask { [weak self] in
                    // Iteration ends when the group is cancelled.
                    for await _ in notifications { await self?.wake() }
                }
            }
            while !Task.isCancelled {
                wakeRequested = false
                var wakeAt: Date
                do {
                    try await runDue(deliveringWith: deliver)
                    if Task.isCancelled { break }
                    if wakeRequested { continue }
                    wakeAt = try await nextWakeDate()
                } catch {
                    // Cancelled (the application stops): the store call was cut short,
                    // the store did not fail.
                    if Task.isCancelled { break }
                    emit(
                        .storeFailed(
                            entryID: "", message: "the queue could not reach its store: \(error)"))
                    wakeAt = clock.now.addingTimeInterval(60)
                }
                await sleep(until: wakeAt)
            }
            group.cancelAll()
        }
    }

    /// When the next pass should run: the earliest retry or expiry the store knows of
    /// (``QueueStore/nextDueDate(maxAge:)``, an indexed question, not a read of every
    /// entry); in a second when something is due already, never in a busy loop; in an
    /// hour at the latest.
    func nextWakeDate() async throws -> Date {
        let now = clock.now
        var earliest = now.addingTimeInterval(3600)
        if let due = try await store.nextDueDate(maxAge: schedule.maxAge) {
            earliest = min(earliest, due)
        }
        return max(earliest, now.addingTimeInterval(1))
    }

    /// Sleeps on the clock until `date`, a ``wake()`` or the task's cancellation.
    private func sleep(until date: Date) async {
        if wakeRequested || Task.isCancelled { return }
        let clock = self.clock
        // A task of its own, so `wake()` can cancel the sleep without cancelling the run;
        // awaited here, so it never outlives the run.
        let sleep = Task { _ = try? await clock.sleep(until: date) }
        sleeper = sleep
        await withTaskCancellationHandler {
            await sleep.value
        } onCancel: {
            sleep.cancel()
        }
        if sleeper == sleep { sleeper = nil }
    }

    /// Makes a sleeping ``run(deliveringWith:)`` look again at once.
    private func wake() {
        wakeRequested = true
        sleeper?.cancel()
    }

    // MARK: Internals

    /// Waits until no other pass of this queue is active, then marks this one (FIFO).
    private func beginRun() async {
        if !runActive {
            runActive = true
            return
        }
        // endRun hands the active mark straight to the first waiter.
        await withCheckedContinuation { runWaiters.append($0) }
    }

    private func endRun() {
        if runWaiters.isEmpty {
            runActive = false
        } else {
            runWaiters.removeFirst().resume()
        }
    }

    /// Purges the entries older than `maxAge`, with an `expired` event each.
    private func purge(olderThan maxAge: Duration) async throws -> [QueueEvent] {
        let now = clock.now
        // An entry exactly `maxAge` old has expired; the store purges strictly before the
        // cutoff, to the microsecond a database keeps.
        let cutoff = now.addingTimeInterval(-maxAge.queueSeconds + 0.000_001)
        let purged = try await store.purge(createdBefore: cutoff, now: now)
        let events = purged.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
            .map { QueueEvent.expired($0) }
        for event in events { emit(event) }
        return events
    }

    /// Tries again the settlements the store refused (see `unsettled`). One that fails
    /// again renews its lease, so nobody (this queue included) re-sends a message whose
    /// outcome is known while the store cannot record it.
    private func settleAgain() async -> [QueueEvent] {
        var produced: [QueueEvent] = []
        for (lease, settlement) in unsettled {
            unsettled[lease] = nil
            do {
                try await apply(settlement, lease)
            } catch let error as QueueStoreError where error.code == .leaseLost {
                // Gone, or someone else's now: nothing left to do.
            } catch {
                let renewed = try? await store.renew(lease, leaseFor: leaseDuration, now: clock.now)
                unsettled[renewed ?? lease] = settlement
                let failure = QueueEvent.storeFailed(entryID: lease.entryID, message: "\(error)")
                emit(failure)
                produced.append(failure)
            }
        }
        return produced
    }

    /// Claims the due entries in batches and re-sends them within the limits.
    ///
    /// Claimed entries wait in one list per recipient domain (earliest due first);
    /// domains take turns (round robin) so one busy domain does not hold up the others. A
    /// domain at its limit is parked until one of its retries ends.
    ///
    /// At most `maxConcurrentDeliveries` entries wait, one round of the delivery slots:
    /// a queue holds no more leases than it can start soon, and other queues over the
    /// store work the rest meanwhile. An entry can still wait longer than half its lease
    /// (its domain at its limit, slow re-sends): its lease is renewed before its send
    /// starts, and an entry whose lease was taken over meanwhile is dropped unsent.
    private func deliverDue(_ deliver: @escaping Deliver) async throws -> [QueueEvent] {
        let maximum = limits.maxConcurrentDeliveries
        let perDomain = limits.maxConcurrentPerDomain
        let batch = maximum
        var waiting: [String: [ClaimedEntry]] = [:]
        var waitingCount = 0
        var ready: [String] = []
        var readyHead = 0
        var parked: Set<String> = []
        var inFlightByDomain: [String: Int] = [:]
        var tried: Set<String> = []
        var exhausted = false
        var produced: [QueueEvent] = []
        var failure: (any Error)?
        let store = self.store
        let clock = self.clock
        let leaseDuration = self.leaseDuration

        let schedule = self.schedule
        await withTaskGroup(of: Settled.self) { group in
            var running = 0
            while true {
                // Refill once half the batch has started (or nothing runs): one claim per
                // half batch, not one per finished re-send.
                if !exhausted && !Task.isCancelled && waitingCount < batch
                    && (waitingCount <= batch / 2 || running == 0)
                {
                    do {
                        let claims = try await store.claimDue(
                            now: clock.now, limit: batch - waitingCount, leaseFor: leaseDuration)
                        if claims.isEmpty { exhausted = true }
                        for claim in claims {
                            // Bounded: an entry this pass already tried (due again at once,
                            // on a zero-gap schedule) waits for the next pass.
                            guard tried.insert(claim.entry.id).inserted else {
                                exhausted = true
                                await release(claim)
                                continue
                            }
                            let domain = claim.entry.recipientDomain
                            if waiting[domain, default: []].isEmpty && !parked.contains(domain) {
                                ready.append(domain)
                            }
                            waiting[domain, default: []].append(claim)
                            waitingCount += 1
                        }
                    } catch {
                        failure = error
                        exhausted = true
                    }
                }
                // Start what the limits allow. A cancelled run starts nothing new: a retry
                // started now would end at once as a deferral and burn an attempt.
                while !Task.isCancelled && running < maximum && readyHead < ready.count {
                    let domain = ready[readyHead]
                    readyHead += 1
                    guard var list = waiting[domain], !list.isEmpty else { continue }
                    if inFlightByDomain[domain, default: 0] >= perDomain {
                        parked.insert(domain)
                        continue
                    }
                    var claim = list.removeFirst()
                    waiting[domain] = list.isEmpty ? nil : list
                    waitingCount -= 1
                    if !list.isEmpty { ready.append(domain) }
                    // Past its maximum age (the purge failed, or it expired since): expired,
                    // never re-sent.
                    if schedule.expiry(of: claim.entry.createdAt) <= clock.now {
                        produced += await expire(claim)
                        continue
                    }
                    // A send starts only under a lease known to hold for half its length.
                    guard let renewed = await leaseToStart(claim) else { continue }
                    claim = renewed
                    inFlightByDomain[domain, default: 0] += 1
                    running += 1
                    group.addTask {
                        let outcome = await Self.deliverRenewing(
                            claim, deliver, store: store, clock: clock, leaseDuration: leaseDuration
                        )
                        return await Self.settle(
                            outcome, for: claim, store: store, schedule: schedule, clock: clock)
                    }
                }
                if readyHead > 1024 && readyHead * 2 > ready.count {
                    ready.removeFirst(readyHead)
                    readyHead = 0
                }
                if running == 0 {
                    if waitingCount == 0 && (exhausted || Task.isCancelled) { break }
                    if Task.isCancelled { break }
                    continue
                }
                guard let settled = await group.next() else { break }
                running -= 1
                produced += finish(settled)
                let domain = settled.claim.entry.recipientDomain
                inFlightByDomain[domain, default: 1] -= 1
                if inFlightByDomain[domain] == 0 { inFlightByDomain[domain] = nil }
                if parked.remove(domain) != nil { ready.append(domain) }
            }
        }
        // Claimed but never started (cancelled): give them back at once, unchanged.
        for claim in waiting.values.joined() { await release(claim) }
        if let failure, produced.isEmpty { throw failure }
        // A store call cut short because the run was cancelled is no store failure.
        if let failure, !Task.isCancelled {
            let event = QueueEvent.storeFailed(
                entryID: "", message: "claiming due entries failed: \(failure)")
            emit(event)
            produced.append(event)
        }
        return produced
    }

    /// The claim to start a send with: as it is while at least half its lease remains,
    /// renewed otherwise (it waited for a slot). `nil` when it must not be sent: the lease
    /// was taken over (the entry is someone else's now: no send, no settlement, no event),
    /// or the renewal failed otherwise (the claim is given back, as if never started).
    private func leaseToStart(_ claim: ClaimedEntry) async -> ClaimedEntry? {
        let now = clock.now
        if now < claim.lease.expiresAt.addingTimeInterval(-leaseDuration.queueSeconds / 2) {
            return claim
        }
        do {
            let lease = try await store.renew(claim.lease, leaseFor: leaseDuration, now: now)
            return ClaimedEntry(entry: claim.entry, lease: lease)
        } catch let error as QueueStoreError where error.code == .leaseLost {
            return nil
        } catch {
            await release(claim)
            return nil
        }
    }

    /// Runs `deliver` while renewing the claim's lease each time half of it has passed,
    /// so a slow re-send (a long transaction, a patient server) keeps its entry. A lost
    /// lease does not stop the re-send (stopping mid-transaction could not take back what
    /// the server got); recording its outcome will then fail with `lease-lost`.
    private static func deliverRenewing(
        _ claim: ClaimedEntry, _ deliver: @escaping Deliver, store: any QueueStore,
        clock: any QueueClock, leaseDuration: Duration
    ) async -> RetryOutcome {
        await withTaskGroup(of: RetryOutcome?.self) { group in
            group.addTask { await deliver(claim.entry) }
            group.addTask {
                var lease = claim.lease
                let half = leaseDuration.queueSeconds / 2
                while !Task.isCancelled {
                    do {
                        try await clock.sleep(until: lease.expiresAt.addingTimeInterval(-half))
                        lease = try await store.renew(
                            lease, leaseFor: leaseDuration, now: clock.now)
                    } catch {
                        return nil
                    }
                }
                return nil
            }
            var outcome = RetryOutcome.deferred(reason: "temporary-failure")
            while let result = await group.next() {
                if let result {
                    outcome = result
                    group.cancelAll()
                }
            }
            return outcome
        }
    }

    /// Takes a claimed entry past its maximum age out of the store, with an `expired` event.
    /// None when the lease was lost: the entry is someone else's now, who may still deliver
    /// it (nothing expired here).
    private func expire(_ claim: ClaimedEntry) async -> [QueueEvent] {
        var produced: [QueueEvent] = []
        do {
            try await store.giveUp(claim.lease, reason: "expired")
        } catch let error as QueueStoreError where error.code == .leaseLost {
            return []
        } catch {
            unsettled[claim.lease] = .giveUp(reason: "expired")
            let failure = QueueEvent.storeFailed(entryID: claim.entry.id, message: "\(error)")
            emit(failure)
            produced.append(failure)
        }
        let event = QueueEvent.expired(claim.entry)
        emit(event)
        produced.append(event)
        return produced
    }

    /// Gives a claimed entry back unchanged (its lease released), for one not tried.
    private func release(_ claim: ClaimedEntry) async {
        try? await store.reschedule(
            claim.lease, attempts: claim.entry.attempts, nextAttemptAt: claim.entry.nextAttemptAt,
            lastReason: claim.entry.lastReason)
    }

    /// One try's outcome, settled in the store: what was stored, and whether it worked.
    private struct Settled: Sendable {
        var claim: ClaimedEntry
        var event: QueueEvent
        var settlement: Settlement
        var failure: String?
        var leaseLost: Bool
    }

    /// The entry's new state after a try ended in `outcome`, its event, and the store call
    /// that records it.
    private static func settlement(
        of outcome: RetryOutcome, for claim: ClaimedEntry, schedule: RetrySchedule, now: Date
    ) -> (QueueEvent, Settlement) {
        var entry = claim.entry
        // Saturating: a store may hand back any count (a custom store, a crafted journal).
        entry.attempts = entry.attempts == .max ? .max : entry.attempts + 1
        switch outcome {
        case .delivered:
            return (.delivered(entry), .complete)
        case .rejected(let reason):
            entry.lastReason = reason
            return (.rejected(entry, reason: reason), .giveUp(reason: reason))
        case .deferred(let reason):
            entry.lastReason = reason
            entry.nextAttemptAt = schedule.nextAttempt(afterAttempts: entry.attempts, at: now)
            return (
                .retryScheduled(entry, at: entry.nextAttemptAt, reason: reason),
                .reschedule(
                    attempts: entry.attempts, nextAttemptAt: entry.nextAttemptAt, lastReason: reason
                )
            )
        }
    }

    /// Records one try's outcome in the store through its lease. Called from the re-send's
    /// own task, so the outcomes of concurrent re-sends reach the store together (one
    /// journal sync for many).
    private static func settle(
        _ outcome: RetryOutcome, for claim: ClaimedEntry, store: any QueueStore,
        schedule: RetrySchedule, clock: any QueueClock
    ) async -> Settled {
        let (event, settlement) = settlement(
            of: outcome, for: claim, schedule: schedule, now: clock.now)
        do {
            try await apply(settlement, claim.lease, to: store)
            return Settled(
                claim: claim, event: event, settlement: settlement, failure: nil, leaseLost: false)
        } catch {
            return Settled(
                claim: claim, event: event, settlement: settlement, failure: "\(error)",
                leaseLost: (error as? QueueStoreError)?.code == .leaseLost)
        }
    }

    /// Emits a settled try's events. A failed settlement is not recorded: with the lease
    /// lost the entry is someone else's now (it may be sent again: at least once); any
    /// other failure is tried again before the next pass, while our lease still holds
    /// the entry (if it expires first, the entry is retried, which at-least-once allows).
    private func finish(_ settled: Settled) -> [QueueEvent] {
        var produced: [QueueEvent] = []
        if let failure = settled.failure {
            if !settled.leaseLost { unsettled[settled.claim.lease] = settled.settlement }
            let event = QueueEvent.storeFailed(entryID: settled.claim.entry.id, message: failure)
            emit(event)
            produced.append(event)
        }
        emit(settled.event)
        produced.append(settled.event)
        return produced
    }

    /// Records one try's outcome (a held send's) and emits its events.
    private func record(_ outcome: RetryOutcome, for claim: ClaimedEntry) async -> [QueueEvent] {
        finish(
            await Self.settle(outcome, for: claim, store: store, schedule: schedule, clock: clock))
    }

    private func apply(_ settlement: Settlement, _ lease: QueueLease) async throws {
        try await Self.apply(settlement, lease, to: store)
    }

    private static func apply(
        _ settlement: Settlement, _ lease: QueueLease, to store: any QueueStore
    )
        async throws
    {
        switch settlement {
        case .complete:
            try await store.complete(lease)
        case .giveUp(let reason):
            try await store.giveUp(lease, reason: reason)
        case .reschedule(let attempts, let nextAttemptAt, let lastReason):
            try await store.reschedule(
                lease, attempts: attempts, nextAttemptAt: nextAttemptAt, lastReason: lastReason)
        }
    }

    private func emit(_ event: QueueEvent) {
        eventSink.yield(event)
        observer?.queueActivity(QueueActivity(event, now: clock.now))
    }
}
