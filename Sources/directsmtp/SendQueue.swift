import DirectSMTP

/// `send --queue PATH`: the durable journal queue a deferred message goes into.
///
/// The journal takes one writer at a time (an exclusive lock), and another `send` or a
/// `queue run` may hold it. So `send` holds it only to store a deferred message, for a
/// moment: it checks the journal before sending (a path that cannot be a journal is a
/// usage problem found before any traffic), then lets it go; a deferral opens it again,
/// waiting up to ``lockWait`` for another holder, appends, and closes.
enum SendQueue {
    /// How long storing a deferred message waits for a journal held elsewhere.
    static let lockWait: Duration = .seconds(3)
    /// How long settling a held message (removing it once delivered, rescheduling it once
    /// deferred) waits: a `queue run` holds the journal for its whole run, re-sends
    /// included, and giving up would leave a delivered message in the queue to be sent
    /// again.
    static let settleLockWait: Duration = .seconds(120)

    /// Checks that `path` can be opened as a journal (creating it if needed; a journal
    /// locked by someone else passes), then attaches a queue over it to `coordinator`.
    static func attach(path: String, to coordinator: VerificationCoordinator) async throws {
        do {
            let store = try await FileJournalQueueStore.open(path: path)
            await store.close()
        } catch let error as QueueStoreError where error.code == .locked {
            // Someone else writes it now; storing waits for them if it comes to that.
        }
        let journal = BrieflyOpenedJournal(path: path, lockWait: lockWait, settleLockWait: settleLockWait)
        let queue = DeliveryQueue(store: journal) {
            [coordinator] entry in
            await coordinator.redeliver(entry)
        }
        coordinator.attach(queue)
    }
}

/// A journal opened for each operation and closed right after, so the lock is held only
/// while a record is written; a lock held elsewhere is waited for, up to `lockWait`.
private struct BrieflyOpenedJournal: QueueStore {
    let path: String
    /// For adding (the caller's answer waits for it).
    let lockWait: Duration
    /// For updating or removing an entry added before (nobody waits for it but the
    /// command's own end).
    let settleLockWait: Duration

    func load() async throws -> [QueueEntry] {
        // `send` only adds: nothing it stores depends on what is there already.
        []
    }

    func add(_ entry: QueueEntry) async throws {
        try await withJournal(waiting: lockWait, "not queued") { try await $0.add(entry) }
    }

    func update(_ entry: QueueEntry) async throws {
        try await withJournal(waiting: settleLockWait, "entry \(entry.id) not rescheduled") {
            try await $0.update(entry)
        }
    }

    func remove(id: String) async throws {
        try await withJournal(
            waiting: settleLockWait, "entry \(id) left in the queue; it may be sent again"
        ) { try await $0.remove(id: id) }
    }

    private func withJournal(
        waiting lockWait: Duration, _ consequence: String,
        _ body: (FileJournalQueueStore) async throws -> Void
    ) async throws {
        let deadline = ContinuousClock.now + lockWait
        let store: FileJournalQueueStore
        while true {
            do {
                store = try await FileJournalQueueStore.open(path: path)
                break
            } catch let error as QueueStoreError where error.code == .locked {
                guard ContinuousClock.now < deadline else {
                    printError("directsmtp send: the queue \(path) stayed locked; \(consequence)")
                    throw error
                }
                try await Task.sleep(for: .milliseconds(25))
            } catch {
                printError("directsmtp send: cannot open the queue \(path): \(error); \(consequence)")
                throw error
            }
        }
        do {
            try await body(store)
        } catch {
            await store.close()
            printError("directsmtp send: cannot write to the queue \(path): \(error); \(consequence)")
            throw error
        }
        await store.close()
    }
}
