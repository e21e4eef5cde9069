import DirectSMTP
import Foundation
import Glibc

/// `send --queue PATH`: the durable journal queue a deferred message goes into.
///
/// The journal takes one writer at a time (an exclusive lock), and a `queue run` may hold
/// it for minutes. `send` must answer by its budget all the same, so it never waits for
/// the journal to store a message: it checks the journal before sending (a path that
/// cannot be a journal is a usage problem found before any traffic), then lets it go; a
/// deferral (or a send outliving its budget) is appended to the journal if it is free at
/// that moment, and otherwise to a spill journal of this process's own in `PATH.spill/`,
/// which nobody else writes while this process holds it. Every `queue` command moves the
/// spill journals whose process has ended into the journal (``SpillJournals``).
enum SendQueue {
    /// How long settling a held message (removing it once delivered, rescheduling it once
    /// deferred) waits for the journal when the message went there: a `queue run` holds
    /// the journal for its whole run, re-sends included, and giving up would leave a
    /// delivered message in the queue to be sent again. A message in this process's spill
    /// journal is settled there, at once.
    static let settleLockWait: Duration = .seconds(120)

    /// Checks that `path` can be opened as a journal (creating it if needed; a journal
    /// locked by someone else passes), then attaches a queue over it to `coordinator`.
    /// Returns the store, to ``SendJournal/finish()`` before the process exits.
    static func attach(path: String, to coordinator: VerificationCoordinator) async throws
        -> SendJournal
    {
        do {
            // Only a check: no waiting for a lock held elsewhere, the budget is running.
            let store = try await FileJournalQueueStore.open(
                path: path, options: .init(lockPatience: .zero))
            await store.close()
        } catch let error as QueueStoreError where error.code == .locked {
            // Someone else writes it now; a deferral then goes to the spill journal.
        }
        let journal = SendJournal(path: path, settleLockWait: settleLockWait)
        let queue = DeliveryQueue(store: journal) {
            [coordinator] entry in
            await coordinator.redeliver(entry)
        }
        coordinator.attach(queue)
        return journal
    }
}

/// `send`'s store: the journal, opened for each operation and closed right after (so its
/// lock is held only while a record is written), or, when another process holds it, this
/// process's spill journal, kept open (and locked) until ``finish()``.
actor SendJournal: QueueStore {
    let path: String
    /// For updating or removing an entry added to the journal before.
    let settleLockWait: Duration
    private var spill: Task<FileJournalQueueStore, any Error>?
    private var spilled: Set<String> = []
    private var finished = false

    init(path: String, settleLockWait: Duration) {
        self.path = path
        self.settleLockWait = settleLockWait
    }

    nonisolated func load() async throws -> [QueueEntry] {
        // `send` only adds: nothing it stores depends on what is there already.
        []
    }

    func add(_ entry: QueueEntry) async throws {
        let store: FileJournalQueueStore
        do {
            store = try await FileJournalQueueStore.open(
                path: path, options: .init(lockPatience: .zero))
        } catch let error as QueueStoreError where error.code == .locked {
            // Held elsewhere: no waiting (the caller's answer waits for this store).
            try await addToSpill(entry)
            return
        } catch {
            printError("directsmtp send: cannot open the queue \(path): \(error); not queued")
            throw error
        }
        try await write(to: store, "not queued") { try await $0.add(entry) }
    }

    private func addToSpill(_ entry: QueueEntry) async throws {
        let store = try await spillJournal()
        do {
            try await store.add(entry)
        } catch {
            printError("directsmtp send: cannot write to the spill journal: \(error); not queued")
            throw error
        }
        spilled.insert(entry.id)
    }

    func update(_ entry: QueueEntry) async throws {
        if spilled.contains(entry.id) {
            try await inSpill("entry \(entry.id) not rescheduled") { try await $0.update(entry) }
            return
        }
        let store = try await openWaiting(settleLockWait, "entry \(entry.id) not rescheduled")
        try await write(to: store, "entry \(entry.id) not rescheduled") { try await $0.update(entry) }
    }

    func remove(id: String) async throws {
        if spilled.contains(id) {
            try await inSpill("entry \(id) left in the spill journal; it may be sent again") {
                try await $0.remove(id: id)
            }
            spilled.remove(id)
            return
        }
        let consequence = "entry \(id) left in the queue; it may be sent again"
        let store = try await openWaiting(settleLockWait, consequence)
        try await write(to: store, consequence) { try await $0.remove(id: id) }
    }

    /// Closes the spill journal, if this process made one; deletes it first when nothing
    /// is left in it (everything stored there was settled). Settling afterwards fails.
    func finish() async {
        guard let store = try? await spill?.value else { return }
        if (try? await store.load())?.isEmpty == true {
            _ = try? await SpillJournals.offThePool { _ = unlink(store.path) }
        }
        await store.close()
        spill = nil
        finished = true
    }

    /// Runs `body` on the spill journal holding a settled entry, reporting a failure.
    private func inSpill(
        _ consequence: String, _ body: (FileJournalQueueStore) async throws -> Void
    ) async throws {
        do {
            guard !finished, let store = try await spill?.value else {
                throw QueueStoreError(.closed, "the spill journal is already closed")
            }
            try await body(store)
        } catch {
            printError("directsmtp send: cannot write to the spill journal: \(error); \(consequence)")
            throw error
        }
    }

    /// This process's spill journal, made on first use.
    private func spillJournal() async throws -> FileJournalQueueStore {
        if let spill { return try await spill.value }
        let directory = SpillJournals.directory(for: path)
        let opening = Task { () throws -> FileJournalQueueStore in
            try await SpillJournals.makeDirectory(directory)
            // A queue command may lock a file this process has just created, before this
            // process locks it (it then deletes it): take another name.
            var attempt = 0
            while true {
                let file = "\(directory)/\(getpid())-\(UUID().uuidString.prefix(8)).journal"
                do {
                    return try await FileJournalQueueStore.open(path: file)
                } catch let error as QueueStoreError where error.code == .locked && attempt < 3 {
                    attempt += 1
                }
            }
        }
        spill = opening
        do {
            return try await opening.value
        } catch {
            spill = nil
            printError("directsmtp send: cannot make a spill journal in \(directory): \(error); not queued")
            throw error
        }
    }

    /// The journal, waiting up to `lockWait` for another holder.
    private func openWaiting(_ lockWait: Duration, _ consequence: String) async throws
        -> FileJournalQueueStore
    {
        let deadline = ContinuousClock.now + lockWait
        while true {
            do {
                return try await FileJournalQueueStore.open(path: path)
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
    }

    /// Runs `body` on the opened journal, then closes it.
    private func write(
        to store: FileJournalQueueStore, _ consequence: String,
        _ body: (FileJournalQueueStore) async throws -> Void
    ) async throws {
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

/// The spill journals of `send`s that found the journal locked: `PATH.spill/*.journal`,
/// each a journal of its own, locked by its process while it runs.
enum SpillJournals {
    static func directory(for journal: String) -> String { journal + ".spill" }

    /// Makes the directory (mode 0700) if needed, durably: its parent is synced (also
    /// when another `send` made it a moment ago and may not have synced it yet), so the
    /// entry survives a crash along with the journals stored in it.
    static func makeDirectory(_ directory: String) async throws {
        try await offThePool { () throws(QueueStoreError) in
            if mkdir(directory, 0o700) != 0, errno != EEXIST {
                throw QueueStoreError(
                    .ioFailed, errno: errno,
                    "cannot make \(directory): \(String(cString: strerror(errno)))")
            }
            let parent = (directory as NSString).deletingLastPathComponent
            guard syncDirectory(parent.isEmpty ? "." : parent) else {
                throw QueueStoreError(
                    .ioFailed, errno: errno, "cannot sync the directory holding \(directory)")
            }
        }
    }

    /// fsync(2) of a directory, so the names made or removed in it are durable.
    static func syncDirectory(_ directory: String) -> Bool {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return fsync(fd) == 0
    }

    /// Runs blocking file-system calls on a Dispatch thread, not on Swift's cooperative
    /// pool (the project's rule for I/O).
    static func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws(QueueStoreError) -> T)
        async throws(QueueStoreError) -> T
    {
        let result: Result<T, QueueStoreError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Result { () throws(QueueStoreError) in try work() })
            }
        }
        return try result.get()
    }

    /// Moves into `store` (the journal at `journal`, held by the caller) every entry of
    /// every spill journal no process holds any more, then deletes that spill journal.
    /// An entry already in the journal (an import cut short by a crash) is skipped.
    /// Returns how many entries moved; problems are reported and leave the file for the
    /// next command.
    @discardableResult
    static func importAll(into store: FileJournalQueueStore, journal: String) async -> Int {
        let directory = directory(for: journal)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            return 0
        }
        var moved = 0
        for name in names.sorted() where name.hasSuffix(".journal") {
            let file = "\(directory)/\(name)"
            let spill: FileJournalQueueStore
            do {
                // No patience: a spill still locked is its send's, and waits for the next
                // command (waiting here would hold the journal longer, and spill more).
                spill = try await FileJournalQueueStore.open(
                    path: file, options: .init(lockPatience: .zero))
            } catch let error as QueueStoreError where error.code == .locked {
                continue  // its send is still running (and may still settle an entry)
            } catch {
                printError("directsmtp queue: cannot open the spill journal \(file): \(error)")
                continue
            }
            do {
                for entry in try await spill.load() {
                    do {
                        try await store.add(entry)
                        moved += 1
                    } catch let error as QueueStoreError where error.code == .duplicateID {
                        // Moved by an earlier import that stopped before deleting the file.
                    }
                    // Out of the spill once in the journal (both synced): should the file
                    // outlive this import (a failed or lost deletion), it brings back
                    // nothing that may be delivered and removed from the journal meanwhile.
                    try await spill.remove(id: entry.id)
                }
                // Deleted while still locked: no other importer can have read it meanwhile.
                try await offThePool { () throws(QueueStoreError) in
                    guard unlink(file) == 0, syncDirectory(directory) else {
                        throw QueueStoreError(
                            .ioFailed, errno: errno, "cannot delete \(file) (it is empty)")
                    }
                }
            } catch {
                printError("directsmtp queue: cannot move the spill journal \(file): \(error)")
            }
            await spill.close()
        }
        return moved
    }
}
