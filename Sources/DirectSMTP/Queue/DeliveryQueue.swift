import Foundation

/// The queue of deferred messages: stores them durably, retries them on a greylisting-aware
/// schedule, purges them after the maximum age, and reports what happens as events.
///
/// The queue knows nothing of DNS or SMTP: it calls the `deliver` closure for each retry,
/// and the closure (wired by the coordinator to re-resolve the MX hosts, race them and
/// send again) answers with a ``RetryOutcome``. Terminal outcomes (`delivered`,
/// `rejected`) take the entry out of the queue for good; `deferred` schedules the next
/// try; an entry older than ``RetrySchedule/maxAge`` is purged with an `expired` event.
///
/// ```swift
/// let store = try await FileJournalQueueStore.open(path: "/var/spool/myapp/queue.journal")
/// let queue = DeliveryQueue(store: store) { entry in await coordinator.redeliver(entry) }
/// Task { for await event in queue.events { log(event) } }
/// await queue.start()                     // background runner
/// try await queue.enqueue(entry)          // durable when it returns
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

    /// What one ``runDue()``, ``runAll()`` or ``purgeExpired(maxAge:)`` did: the events it
    /// produced, in order (they are also sent to ``events``).
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

    /// Everything that happens to entries, in order: enqueued, delivered, rejected, retry
    /// scheduled, expired, store failures. Meant for one consumer; if nobody reads it, only
    /// the newest 10,000 events are kept. It finishes when the queue is released (a started
    /// runner does not keep the queue alive).
    public nonisolated let events: AsyncStream<QueueEvent>
    /// The retry schedule.
    public nonisolated let schedule: RetrySchedule
    /// The concurrency limits.
    public nonisolated let limits: Limits

    private let eventSink: AsyncStream<QueueEvent>.Continuation
    private let store: any RecordQueueStore
    private let clock: any QueueClock
    private let deliver: @Sendable (QueueEntry) async -> RetryOutcome

    private var byID: [String: QueueEntry] = [:]
    private var loaded = false
    private var loading: Task<[QueueEntry], any Error>?
    private var inFlight: Set<String> = []
    /// Entries gone from memory (delivered, rejected, expired) whose removal from the
    /// store failed: removed again before every run and purge, so a full disk does not
    /// bring a delivered message back at the next restart.
    private var unremoved: Set<String> = []
    /// Held entries (a subset of `inFlight`): only these can be settled.
    private var held: Set<String> = []
    private var inFlightByDomain: [String: Int] = [:]
    private var runner: Task<Void, Never>?
    private var sleeper: Task<Void, Never>?
    private var wakeRequested = false
    /// One run (``runDue()``, ``runAll()``, the background runner's pass) at a time: the
    /// concurrency limit counts one run's retries, and a run's list of candidates must not
    /// go stale under another run that retries (and reschedules) the same entries.
    private var runActive = false
    private var runWaiters: [CheckedContinuation<Void, Never>] = []

    /// Creates a queue over `store`. Nothing is read until the first call that needs the
    /// entries (or ``load()``).
    ///
    /// - Parameters:
    ///   - store: where entries live; ``FileJournalQueueStore`` for durability.
    ///   - schedule: when to retry and when to give up.
    ///   - clock: the time source; ``ManualQueueClock`` in tests.
    ///   - limits: how many retries run at once, in all and per recipient domain.
    ///   - deliver: one re-send of an entry. It must return (bound its own time, and end
    ///     promptly when its task is cancelled): the queue puts no deadline on it, and a
    ///     run, and so every later run, waits for all its retries. It is called for one
    ///     entry at most once at a time, and must not call ``runDue()`` or ``runAll()``
    ///     (runs take turns: that call would wait for the run that is waiting for it).
    public init(
        store: some RecordQueueStore,
        schedule: RetrySchedule = .default,
        clock: some QueueClock = .system,
        limits: Limits = Limits(),
        deliver: @escaping @Sendable (QueueEntry) async -> RetryOutcome
    ) {
        self.store = store
        self.schedule = schedule
        self.clock = clock
        self.limits = limits
        self.deliver = deliver
        (events, eventSink) = AsyncStream.makeStream(
            of: QueueEvent.self, bufferingPolicy: .bufferingNewest(10_000))
    }

    deinit {
        // A runner still started holds the queue only weakly: end its sleep so it ends too.
        sleeper?.cancel()
        runner?.cancel()
        eventSink.finish()
    }

    // MARK: Entries

    /// Reads the store's entries, if not done yet. Other methods call it as needed.
    public func load() async throws {
        if loaded { return }
        let task: Task<[QueueEntry], any Error>
        if let loading {
            task = loading
        } else {
            let store = self.store
            task = Task { try await store.load() }
            loading = task
        }
        do {
            let stored = try await task.value
            if !loaded {
                for entry in stored { byID[entry.id] = entry }
                loaded = true
            }
        } catch {
            if loading == task { loading = nil }
            throw error
        }
    }

    /// Stores `entry` durably and schedules it; returns once the store has it (for
    /// ``FileJournalQueueStore``: after `fsync`). The entry keeps the ``QueueEntry/nextAttemptAt``
    /// and ``QueueEntry/attempts`` it comes with.
    public func enqueue(_ entry: QueueEntry) async throws {
        try await load()
        try await store.add(entry)
        byID[entry.id] = entry
        emit(.enqueued(entry))
        wakeRunner()
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

    /// Stores a message whose send is still running in this process (its caller's budget
    /// ended inside the SMTP transaction), durably at once: a crash or a restart then loses
    /// nothing. A held entry is never retried, purged or counted as due while held;
    /// ``settle(_:with:)`` applies the transaction's outcome. After a restart nothing holds
    /// it, and it is retried from `nextAttemptAt`: at least once, since the transaction
    /// may have delivered it just before the process stopped.
    /// - Parameter notBefore: how long the running transaction may still take (its step
    ///   timeouts): the entry's first retry after a restart is no earlier, nor earlier than
    ///   the schedule's first retry.
    @discardableResult
    public func hold(
        from: String, to: String, data: [UInt8], requires8BitMIME: Bool = false,
        requiresSMTPUTF8: Bool = false, messageID: String, reason: String, notBefore: Duration
    ) async throws -> QueueEntry {
        let now = clock.now
        let firstRetry = schedule.nextAttempt(afterAttempts: 1, at: now)
        // No try has ended yet (attempts 0): settling it deferred counts the first, and
        // another process's `runAll` leaves it alone until it is due.
        let entry = QueueEntry(
            from: from, to: to, data: data, requires8BitMIME: requires8BitMIME,
            requiresSMTPUTF8: requiresSMTPUTF8, messageID: messageID, createdAt: now,
            nextAttemptAt: max(firstRetry, now.addingTimeInterval(notBefore.queueSeconds)),
            attempts: 0, lastReason: reason)
        try await load()
        try await store.add(entry)
        byID[entry.id] = entry
        held.insert(entry.id)
        inFlight.insert(entry.id)  // what keeps runs, purges and wake-ups off it
        emit(.enqueued(entry))
        return entry
    }

    /// Applies the outcome of a held entry's transaction, as a retry's: delivered and
    /// rejected take it out of the queue, deferred schedules its next try. Returns whether
    /// the store took the change; `false` also for an entry not held.
    @discardableResult
    public func settle(_ id: String, with outcome: RetryOutcome) async -> Bool {
        // Only a held entry: one being retried is settled by its own run.
        guard held.remove(id) != nil else { return false }
        inFlight.remove(id)
        guard let entry = byID[id] else { return false }
        let events = await record(outcome, for: entry)
        wakeRunner()
        return !events.contains { if case .storeFailed = $0 { true } else { false } }
    }

    /// Every entry in the queue, oldest first.
    public func entries() async throws -> [QueueEntry] {
        try await load()
        return byID.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    /// The earliest time something is due: a retry or an expiry; `nil` when the queue is
    /// empty (or every entry is being retried right now).
    public func nextWakeDate() -> Date? {
        var earliest: Date?
        for entry in byID.values where !inFlight.contains(entry.id) {
            let due = min(entry.nextAttemptAt, schedule.expiry(of: entry.createdAt))
            if earliest == nil || due < earliest! { earliest = due }
        }
        return earliest
    }

    // MARK: Running

    /// Purges expired entries, then retries every entry that is due, once, within the
    /// concurrency limits; returns when all those retries have ended. Runs take turns: a
    /// call made while another run (or the background runner's pass) is active waits for
    /// it, so the limits hold for the queue as a whole and no entry is retried twice.
    @discardableResult
    public func runDue() async throws -> RunSummary {
        try await load()
        await beginRun()
        defer { endRun() }
        await removeAgain()
        let now = clock.now
        var summary = await purge(olderThan: schedule.maxAge, now: now)
        let due = byID.values.filter { $0.nextAttemptAt <= now && !inFlight.contains($0.id) }
        summary.events += await retry(due)
        return summary
    }

    /// Purges expired entries, then retries every other entry now, due or not (the CLI's
    /// `queue run --all`). Except one whose first try has not ended (`attempts == 0`, a
    /// send held by ``hold(from:to:data:requires8BitMIME:requiresSMTPUTF8:messageID:reason:notBefore:)``)
    /// before it is due: its transaction may still be running in the process that held
    /// it, and a retry now could deliver it twice.
    @discardableResult
    public func runAll() async throws -> RunSummary {
        try await load()
        await beginRun()
        defer { endRun() }
        await removeAgain()
        let now = clock.now
        var summary = await purge(olderThan: schedule.maxAge, now: now)
        let all = byID.values.filter {
            !inFlight.contains($0.id) && ($0.attempts > 0 || $0.nextAttemptAt <= now)
        }
        summary.events += await retry(all)
        return summary
    }

    /// Removes, with an `expired` event each, the entries older than `maxAge` (the
    /// schedule's ``RetrySchedule/maxAge`` when `nil`). Entries being retried are left alone.
    @discardableResult
    public func purgeExpired(maxAge: Duration? = nil) async throws -> RunSummary {
        try await load()
        await removeAgain()
        return await purge(olderThan: maxAge ?? schedule.maxAge, now: clock.now)
    }

    /// Starts the background runner: it runs due entries, then sleeps on the clock until
    /// the next retry or expiry is due or a new entry arrives. No polling. Idempotent.
    public func start() {
        guard runner == nil else { return }
        // The runner holds the queue only during a pass, never while it sleeps: a queue
        // dropped without stop() is freed, its deinit finishes `events`, and the runner
        // ends instead of keeping both alive forever.
        runner = Task { [weak self] in
            while !Task.isCancelled {
                guard let sleep = await self?.runnerPass() else { return }
                await sleep.value
                await self?.runnerSlept(sleep)
            }
        }
    }

    /// Stops the background runner and waits for it: no retry starts after this call, and
    /// the retries in flight are cancelled and end as their `deliver` closure returns. A
    /// ``start()`` made while it waits starts a new runner.
    public func stop() async {
        guard let task = runner else { return }
        runner = nil
        task.cancel()
        sleeper?.cancel()
        await task.value
    }

    /// Whether the background runner is running.
    public var isRunning: Bool { runner != nil }

    /// One pass of the background runner: runs what is due, then returns the sleep to wait
    /// on (until the next retry or expiry, or a wake-up); `nil` when the runner must end.
    private func runnerPass() async -> Task<Void, Never>? {
        while !Task.isCancelled {
            wakeRequested = false
            var wake: Date
            do {
                try await runDue()
                if Task.isCancelled { return nil }
                if wakeRequested { continue }
                let now = clock.now
                wake = nextWakeDate() ?? now.addingTimeInterval(3600)
                // Due entries left over are being retried by another caller: wake when
                // they finish (that wakes us) or in a second, never in a busy loop.
                if wake <= now { wake = now.addingTimeInterval(1) }
            } catch {
                emit(
                    .storeFailed(
                        entryID: "", message: "the queue could not load its store: \(error)"))
                wake = clock.now.addingTimeInterval(60)
            }
            let clock = self.clock
            let sleep = Task { _ = try? await clock.sleep(until: wake) }
            sleeper = sleep
            if wakeRequested || Task.isCancelled { sleep.cancel() }
            return sleep
        }
        return nil
    }

    private func runnerSlept(_ sleep: Task<Void, Never>) {
        // A runner started after stop() may have its own sleeper by now.
        if sleeper == sleep { sleeper = nil }
    }

    private func wakeRunner() {
        wakeRequested = true
        sleeper?.cancel()
    }

    // MARK: Internals

    /// Waits until no other run is active, then marks this one active (FIFO).
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

    /// Takes expired entries out of memory and the store, with an `expired` event each.
    private func purge(olderThan maxAge: Duration, now: Date) async -> RunSummary {
        var summary = RunSummary()
        let cutoff = now.addingTimeInterval(-maxAge.queueSeconds)
        let expired = byID.values
            .filter { $0.createdAt <= cutoff && !inFlight.contains($0.id) }
            .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        for entry in expired {
            byID[entry.id] = nil
            summary.events.append(.expired(entry))
        }
        summary.events = await persistRemovals(summary.events)
        return summary
    }

    /// Tries again the removals that failed (see `unremoved`); one already gone from the
    /// store (another process purged it) counts as removed.
    private func removeAgain() async {
        for id in unremoved {
            do {
                try await store.remove(id: id)
                unremoved.remove(id)
            } catch let error as QueueStoreError where error.code == .notFound {
                unremoved.remove(id)
            } catch {
                // Still failing: kept for the next run.
            }
        }
    }

    /// Removes the entries of `expired` events from the store, then emits the events.
    private func persistRemovals(_ expiredEvents: [QueueEvent]) async -> [QueueEvent] {
        var result: [QueueEvent] = []
        for event in expiredEvents {
            do {
                try await store.remove(id: event.entryID)
            } catch {
                unremoved.insert(event.entryID)
                let failure = QueueEvent.storeFailed(entryID: event.entryID, message: "\(error)")
                emit(failure)
                result.append(failure)
            }
            emit(event)
            result.append(event)
        }
        return result
    }

    /// Retries `candidates` within the limits and records each outcome.
    ///
    /// Entries wait in one list per recipient domain (earliest due first); domains take
    /// turns (round robin) so one busy domain does not hold up the others. A domain at its
    /// limit is parked until one of its retries ends. Every step is O(1) amortised, so a
    /// run over 100,000 due entries stays linear.
    private func retry(_ candidates: [QueueEntry]) async -> [QueueEvent] {
        var waiting: [String: [QueueEntry]] = [:]
        let ordered = candidates.sorted {
            ($0.nextAttemptAt, $0.createdAt, $0.id) < ($1.nextAttemptAt, $1.createdAt, $1.id)
        }
        var ready: [String] = []
        for entry in ordered {
            let domain = entry.recipientDomain
            if waiting[domain] == nil { ready.append(domain) }
            waiting[domain, default: []].append(entry)
        }
        // Each list is popped from its end: reverse so the earliest comes first.
        for domain in ready { waiting[domain]!.reverse() }
        var readyHead = 0
        var parked: Set<String> = []
        var produced: [QueueEvent] = []
        let deliver = self.deliver
        let maximum = limits.maxConcurrentDeliveries
        let perDomain = limits.maxConcurrentPerDomain
        await withTaskGroup(of: (QueueEntry, RetryOutcome).self) { group in
            var running = 0
            // Invariant: a domain with waiting entries is in `ready` (from readyHead on) or
            // in `parked`, never in both, never twice.
            func startMore() {
                // A cancelled run (stop(), or a cancelled caller) starts nothing new: each
                // retry started now would end at once as a deferral, burning an attempt and
                // pushing the entry's schedule back.
                while !Task.isCancelled && running < maximum && readyHead < ready.count {
                    let domain = ready[readyHead]
                    readyHead += 1
                    guard waiting[domain] != nil else { continue }
                    if inFlightByDomain[domain, default: 0] >= perDomain {
                        parked.insert(domain)
                        continue
                    }
                    let entry = waiting[domain]!.removeLast()
                    if waiting[domain]!.isEmpty {
                        waiting[domain] = nil
                    } else {
                        ready.append(domain)
                    }
                    // Purged meanwhile, or (defensive) changed since it was picked: skip.
                    guard let current = byID[entry.id], current == entry,
                        !inFlight.contains(entry.id)
                    else { continue }
                    inFlight.insert(entry.id)
                    inFlightByDomain[domain, default: 0] += 1
                    running += 1
                    group.addTask { (current, await deliver(current)) }
                }
                if readyHead > 1024 && readyHead * 2 > ready.count {
                    ready.removeFirst(readyHead)
                    readyHead = 0
                }
            }
            startMore()
            while let (entry, outcome) = await group.next() {
                running -= 1
                produced += await record(outcome, for: entry)
                inFlight.remove(entry.id)
                let domain = entry.recipientDomain
                inFlightByDomain[domain, default: 1] -= 1
                if inFlightByDomain[domain] == 0 { inFlightByDomain[domain] = nil }
                if parked.remove(domain) != nil { ready.append(domain) }
                startMore()
            }
        }
        // Rescheduled entries may now be due earlier than the sleeping runner's wake time.
        // Only a sleeping runner needs waking: one in its pass reads the schedule after the
        // pass anyway. (Asking it for another pass at once would loop without pause on a
        // zero-gap schedule while the clock stands still.)
        if !produced.isEmpty { sleeper?.cancel() }
        return produced
    }

    /// Applies one retry's outcome to memory and the store, and emits its events.
    private func record(_ outcome: RetryOutcome, for tried: QueueEntry) async -> [QueueEvent] {
        var entry = byID[tried.id] ?? tried
        // Saturating: a store may hand back any count (a custom store, a crafted journal).
        entry.attempts = entry.attempts == .max ? .max : entry.attempts + 1
        let event: QueueEvent
        switch outcome {
        case .delivered:
            byID[entry.id] = nil
            event = .delivered(entry)
        case .rejected(let reason):
            entry.lastReason = reason
            byID[entry.id] = nil
            event = .rejected(entry, reason: reason)
        case .deferred(let reason):
            entry.lastReason = reason
            entry.nextAttemptAt = schedule.nextAttempt(afterAttempts: entry.attempts, at: clock.now)
            byID[entry.id] = entry
            event = .retryScheduled(entry, at: entry.nextAttemptAt, reason: reason)
        }
        var produced: [QueueEvent] = []
        do {
            if case .deferred = outcome {
                try await store.update(entry)
            } else {
                try await store.remove(id: entry.id)
            }
        } catch {
            // The in-memory state has moved on regardless (a delivered entry is never sent
            // again by this process); a failed removal is tried again before the next run
            // (see `unremoved`), and only a restart before it succeeds can bring the entry
            // back, which the at-least-once guarantee allows.
            if case .deferred = outcome {} else { unremoved.insert(entry.id) }
            let failure = QueueEvent.storeFailed(entryID: entry.id, message: "\(error)")
            emit(failure)
            produced.append(failure)
        }
        emit(event)
        produced.append(event)
        return produced
    }

    private func emit(_ event: QueueEvent) {
        eventSink.yield(event)
    }
}
