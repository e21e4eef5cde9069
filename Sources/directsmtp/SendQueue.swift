import DirectSMTP
import Foundation
import Glibc

/// `send --queue PATH`: the durable journal queue a deferred message goes into.
///
/// The journal takes one writer at a time (an exclusive lock), and a `queue run` may hold
/// it for minutes. `send` must answer by its budget all the same, and must not leave a
/// delivered message queued, so it never waits for the journal:
/// - it checks the journal before sending (a path that cannot be a journal is a usage
///   problem found before any traffic), then lets it go;
/// - a deferral (or a send outliving its budget) is appended to the journal if it is
///   free at that moment, and otherwise to a spill journal of this process's own in
///   `PATH.spill/`, which nobody else writes while this process holds it;
/// - settling a held message in the journal while the journal is held records the
///   removal as a tombstone in `PATH.spill/` (a reschedule is left for the entry's due
///   time instead).
/// Every `queue` command first applies the tombstones and moves in the spill journals
/// whose process has ended (``SpillJournals``).
enum SendQueue {
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
        let journal = SendJournal(path: path)
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
/// process's spill journal, kept open (and locked) until ``finish()``. It never waits for
/// the journal's lock.
actor SendJournal: RecordQueueStore {
    let path: String
    private var spill: Task<FileJournalQueueStore, any Error>?
    private var spilled: Set<String> = []
    private var finished = false

    init(path: String) {
        self.path = path
    }

    nonisolated func load() async throws -> [QueueEntry] {
        // `send` only adds: nothing it stores depends on what is there already.
        []
    }

    func add(_ entry: QueueEntry) async throws {
        guard let store = try await journalIfFree("not queued") else {
            // Held elsewhere: no waiting (the caller's answer waits for this store).
            try await addToSpill(entry)
            return
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
        guard let store = try await journalIfFree("entry \(entry.id) not rescheduled") else {
            // Held elsewhere: the entry stays as stored (never tried, due when its
            // transaction could have ended) and is retried then; nothing is lost.
            printError(
                "directsmtp send: the queue \(path) is busy; entry \(entry.id) stays as stored and is retried when due"
            )
            return
        }
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
        guard let store = try await journalIfFree(consequence) else {
            // Held elsewhere (a queue run): a tombstone, applied by the next queue command
            // before it retries anything. The run holding the journal now started after
            // this message was stored, before it was due, so it does not retry it.
            do {
                try await SpillJournals.writeTombstone(for: id, journal: path)
            } catch {
                printError("directsmtp send: cannot record the removal: \(error); \(consequence)")
                throw error
            }
            return
        }
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

    /// The journal if no one holds it this instant; `nil` if someone does.
    private func journalIfFree(_ consequence: String) async throws -> FileJournalQueueStore? {
        do {
            return try await FileJournalQueueStore.open(
                path: path, options: .init(lockPatience: .zero))
        } catch let error as QueueStoreError where error.code == .locked {
            return nil
        } catch {
            printError("directsmtp send: cannot open the queue \(path): \(error); \(consequence)")
            throw error
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

    /// Records, durably, that the entry `id` of the journal at `journal` is settled and
    /// must be removed: a file `PATH.spill/*.removed` holding the id (written aside,
    /// synced, renamed into place, the directory synced).
    static func writeTombstone(for id: String, journal: String) async throws {
        let directory = directory(for: journal)
        try await makeDirectory(directory)
        let name = "\(directory)/\(getpid())-\(UUID().uuidString.prefix(8))"
        try await offThePool { () throws(QueueStoreError) in
            let bytes = Array((id + "\n").utf8)
            let fd = open(name + ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw QueueStoreError(.ioFailed, errno: errno, "cannot write \(name).tmp")
            }
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            let synced = fsync(fd) == 0
            close(fd)
            guard written == bytes.count, synced, rename(name + ".tmp", name + ".removed") == 0,
                syncDirectory(directory)
            else {
                unlink(name + ".tmp")
                throw QueueStoreError(.ioFailed, errno: errno, "cannot write \(name).removed")
            }
        }
    }

    /// Removes from `store` the entries the tombstones name, then the tombstones; returns
    /// how many could not be applied (their entries must not be retried now). Also
    /// deletes the leftovers of tombstones whose writer died before renaming them.
    private static func applyTombstones(
        _ names: [String], in directory: String, to store: FileJournalQueueStore
    ) async -> Int {
        var failed = 0
        for name in names where name.hasSuffix(".removed") {
            let file = "\(directory)/\(name)"
            do {
                let data = try await offThePool { () throws(QueueStoreError) -> [UInt8] in
                    guard let data = FileManager.default.contents(atPath: file) else {
                        throw QueueStoreError(.ioFailed, "cannot read \(file)")
                    }
                    return Array(data)
                }
                let id = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
                // Removing an id the journal no longer has (purged meanwhile) is harmless.
                if !id.isEmpty { try await store.remove(id: id) }
                try await offThePool { () throws(QueueStoreError) in
                    guard unlink(file) == 0, syncDirectory(directory) else {
                        throw QueueStoreError(.ioFailed, errno: errno, "cannot delete \(file)")
                    }
                }
            } catch {
                failed += 1
                printError("directsmtp queue: cannot apply the removal \(file): \(error)")
            }
        }
        let stale = names.filter { $0.hasSuffix(".tmp") }.map { "\(directory)/\($0)" }
        _ = try? await offThePool {
            for file in stale {
                var info = stat()
                // A minute old: its writer (a send, which renames within milliseconds) died.
                if stat(file, &info) == 0, time(nil) - info.st_mtim.tv_sec > 60 { unlink(file) }
            }
        }
        return failed
    }

    /// Applies the tombstones, then moves into `store` (the journal at `journal`, held by
    /// the caller) every entry of every spill journal no process holds any more, then
    /// deletes that spill journal.
    /// An entry already in the journal (an import cut short by a crash) is skipped.
    /// Returns how many entries moved; problems are reported and leave the file for the
    /// next command.
    /// - Returns: the entries moved, and the removals that could not be applied (the
    ///   caller must then not retry anything: one of those entries was delivered).
    static func importAll(into store: FileJournalQueueStore, journal: String) async
        -> (moved: Int, unappliedRemovals: Int)
    {
        let directory = directory(for: journal)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            return (0, 0)
        }
        // Removals first: they name entries of the journal itself, settled by a send
        // while a queue run held it.
        let unapplied = await applyTombstones(names.sorted(), in: directory, to: store)
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
        return (moved, unapplied)
    }
}
