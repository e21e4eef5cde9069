import Dispatch
import Foundation
import Sockets

/// The default durable queue store: an append-only journal file of checksummed records.
///
/// - **Durable before return.** ``add(_:)``, ``update(_:)`` and ``remove(id:)`` return only
///   after their record was written and `fdatasync`ed. Calls that arrive while a sync is
///   running are written together and share the next sync (group commit); each is still
///   acknowledged only after the sync that covers it.
/// - **Crash-safe.** Every record carries a CRC-32C. On ``open(path:options:)`` recovery
///   replays every intact record, cuts off a torn last record (a write a crash
///   interrupted, never acknowledged), and steps over damaged records in the middle by
///   resynchronising on the next record's magic number; ``recovery`` reports what it
///   found. A journal damaged before its end is rewritten from the recovered entries and
///   the damaged original is kept beside it (`PATH.damaged-UNIXTIME`).
/// - **Compacted.** When dead records (updated or removed entries) outnumber the live ones
///   (and there are at least ``Options/compactionMinimumDeadRecords``), the live entries
///   are written to `PATH.compact`, fsynced, renamed over the journal, and the directory
///   fsynced. A `PATH.compact` that a crash left behind is removed on open.
/// - **Poisoned by a failed fsync.** Once a sync fails, that call and every write still
///   queued behind it throw, and later calls throw `poisoned`: reopen to recover.
/// - **One writer.** The journal is held under an exclusive `flock`; a second opener, in
///   this process or another, gets ``QueueStoreError/Code/locked``. Descriptors are opened
///   `O_CLOEXEC`, so child processes do not inherit the file or its lock.
/// - **Off the cooperative pool.** All blocking file work runs on the store's own serial
///   `DispatchQueue` and is awaited through continuations.
///
/// Delivery is at least once; see ``QueueStore`` for the duplicate a crash can cause and
/// how to recognise it (the `Message-ID`).
///
/// ```swift
/// let store = try await FileJournalQueueStore.open(path: "/var/spool/myapp/queue.journal")
/// if !store.recovery.isClean { logger.warning("queue journal: \(store.recovery)") }
/// let queue = DeliveryQueue(store: store) { entry in await resend(entry) }
/// ```
public final class FileJournalQueueStore: QueueStore {
    /// Tuning for a journal store.
    public struct Options: Sendable, Hashable {
        /// Compact only when at least this many records are dead.
        public var compactionMinimumDeadRecords: Int
        /// Compact when dead records exceed live entries times this ratio.
        public var compactionDeadRatio: Double
        /// How long opening retries a lock found taken before throwing `locked`: a process
        /// being spawned holds a copy of every descriptor (and so of the lock) between
        /// its fork and its exec, so a lock just released can look taken for a moment.
        /// `.zero` for a caller that must not wait (and can live with a rare `locked`); at
        /// most a minute.
        public var lockPatience: Duration

        /// Creates options; the defaults compact once 1,000 dead records outnumber the live
        /// entries, and retry a taken lock for a quarter of a second.
        public init(
            compactionMinimumDeadRecords: Int = 1000, compactionDeadRatio: Double = 1,
            lockPatience: Duration = .milliseconds(250)
        ) {
            self.compactionMinimumDeadRecords = max(compactionMinimumDeadRecords, 1)
            self.compactionDeadRatio = max(compactionDeadRatio, 0)
            self.lockPatience = min(max(lockPatience, .zero), .seconds(60))
        }
    }

    private enum Operation {
        case add(QueueEntry)
        case update(QueueEntry)
        case remove(String)
    }

    private struct PendingWrite {
        var operation: Operation
        var record: [UInt8]
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var fd: Int32
        var closed = false
        var poisoned: QueueStoreError?
        /// Identifiers as of every submitted operation, durable or pending (validation).
        var ids: Set<String>
        var pending: [PendingWrite] = []
        var writerScheduled = false
        /// The durable entries; changed only on the I/O queue, after a sync.
        var live: [String: QueueEntry]
        /// Records in the current file.
        var recordCount: Int
        var fileSize: Int
        var compactions = 0
        /// After a failed compaction, the record count at which to try again.
        var nextCompactionAttempt = 0
    }

    /// The journal's path.
    public let path: String
    /// What recovery found when the journal was opened.
    public let recovery: JournalRecoveryReport
    /// The tuning in force.
    public let options: Options

    private let io: DispatchQueue
    private let state: Lock<State>

    private init(
        path: String, options: Options, io: DispatchQueue, fd: Int32, live: [String: QueueEntry],
        recordCount: Int, fileSize: Int, recovery: JournalRecoveryReport
    ) {
        self.path = path
        self.options = options
        self.io = io
        self.recovery = recovery
        self.state = Lock(
            State(
                fd: fd, ids: Set(live.keys), live: live, recordCount: recordCount,
                fileSize: fileSize))
    }

    deinit {
        let fd = state.withLock { $0.fd }
        if fd >= 0 { JournalFile.closeDescriptor(fd) }
    }

    /// Opens (or creates) the journal at `path`, takes its lock and recovers its entries.
    ///
    /// - Throws: ``QueueStoreError`` with code `locked` if another process or store holds
    ///   the journal, `not-a-journal` if the file holds no journal at all, `io-failed` if
    ///   a system call fails.
    public static func open(path: String, options: Options = Options()) async throws
        -> FileJournalQueueStore
    {
        let io = DispatchQueue(label: "DirectSMTP.FileJournalQueueStore")
        return try await withCheckedThrowingContinuation { continuation in
            io.async {
                continuation.resume(
                    with: Result { () throws(QueueStoreError) in
                        try openBlocking(path: path, options: options, io: io)
                    })
            }
        }
    }

    private static func openBlocking(path: String, options: Options, io: DispatchQueue)
        throws(QueueStoreError) -> FileJournalQueueStore
    {
        var (fd, _) = try JournalFile.openLocked(path: path, patience: options.lockPatience)
        do throws(QueueStoreError) {
            // A crash during a compaction leaves its temporary file; the journal is whole.
            try JournalFile.removeLeftoverTemporary(path + ".compact")
            let bytes = try JournalFile.readAll(fd: fd, path: path)
            let header = JournalRecord.fileHeader
            // Empty, or a header cut short by a crash while creating the file: a new journal.
            if bytes.count < header.count && bytes.elementsEqual(header.prefix(bytes.count)) {
                try JournalFile.truncate(fd: fd, to: 0, path: path)
                try JournalFile.writeAll(fd: fd, header, path: path)
                try JournalFile.sync(fd: fd, path: path)
                try JournalFile.syncDirectory(of: path)
                let report = JournalRecoveryReport(
                    fileSize: bytes.count, recordCount: 0, entryCount: 0, headerDamaged: false,
                    damagedRegions: [], tornTailBytes: 0, preservedCopyPath: nil)
                return FileJournalQueueStore(
                    path: path, options: options, io: io, fd: fd, live: [:], recordCount: 0,
                    fileSize: header.count, recovery: report)
            }
            let scan = bytes.withUnsafeBytes { JournalScanner($0) }
            var report = scan.report
            if report.recordCount == 0 && report.headerDamaged {
                throw QueueStoreError(
                    .notAJournal,
                    "\(path) is not a DirectSMTP queue journal (no valid header and no valid record); it was left untouched"
                )
            }
            var fileSize = scan.validEnd
            var recordCount = report.recordCount
            if report.hasCorruption {
                // Keep the damaged file as found, and go on with a clean rewrite.
                report.preservedCopyPath = try JournalFile.preserve(
                    path: path, as: "\(path).damaged-\(Int(Date().timeIntervalSince1970))")
                let image = snapshot(scan.entries)
                let newFD = try JournalFile.replace(
                    path: path, temporaryPath: path + ".compact", with: image)
                JournalFile.closeDescriptor(fd)
                fd = newFD  // closed by the catch below if the directory sync fails
                try JournalFile.syncDirectory(of: path)
                fileSize = image.count
                recordCount = scan.entries.count
            } else {
                if report.tornTailBytes > 0 {
                    try JournalFile.truncate(fd: fd, to: scan.validEnd, path: path)
                    try JournalFile.sync(fd: fd, path: path)
                }
                // The journal's own name may never have been synced (a crash between its
                // creation and the directory sync, or a file made by hand), and the
                // leftover temporary's removal should hold too: appends acknowledged
                // from now on must not vanish with the directory entry.
                try JournalFile.syncDirectory(of: path)
            }
            return FileJournalQueueStore(
                path: path, options: options, io: io, fd: fd, live: scan.entries,
                recordCount: recordCount, fileSize: fileSize, recovery: report)
        } catch {
            JournalFile.closeDescriptor(fd)
            throw error
        }
    }

    /// A whole journal file holding `entries`, one add record each.
    private static func snapshot(_ entries: [String: QueueEntry]) -> [UInt8] {
        var image = JournalRecord.fileHeader
        for entry in entries.values.sorted(by: { $0.createdAt < $1.createdAt }) {
            JournalRecord.appendRecord(
                kind: .add, payload: JournalRecord.encodeEntry(entry), to: &image)
        }
        return image
    }

    // MARK: QueueStore

    /// Every stored entry, as of every call that returned before this one.
    public func load() async throws -> [QueueEntry] {
        try await onIOQueue { () throws(QueueStoreError) in
            try self.state.withLock { (state) throws(QueueStoreError) in
                if state.closed { throw Self.closedError(self.path) }
                return Array(state.live.values)
            }
        }
    }

    /// Stores a new entry; returns after its record is on disk.
    public func add(_ entry: QueueEntry) async throws {
        try await submit(.add(entry), record: JournalRecord.encode(.add, entry: entry))
    }

    /// Replaces a stored entry; returns after its record is on disk.
    public func update(_ entry: QueueEntry) async throws {
        try await submit(.update(entry), record: JournalRecord.encode(.update, entry: entry))
    }

    /// Removes an entry; returns after its record is on disk. An unknown id is ignored.
    public func remove(id: String) async throws {
        let known = state.withLock { $0.ids.contains(id) }
        guard known else { return }
        try await submit(.remove(id), record: JournalRecord.encodeRemove(id: id))
    }

    // MARK: Other operations

    /// Rewrites the journal with only the live entries now, whatever the dead count.
    public func compact() async throws {
        try await onIOQueue { () throws(QueueStoreError) in try self.compactBlocking() }
    }

    /// Finishes pending writes, closes the file and releases the lock. Later calls throw
    /// `closed`. Idempotent.
    public func close() async {
        state.withLock { $0.closed = true }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            io.async {
                // A write accepted just before `closed` was set may have its drain queued
                // behind this block: write it now, while the file is still open.
                self.drain()
                let fd = self.state.withLock { state in
                    let fd = state.fd
                    state.fd = -1
                    return fd
                }
                if fd >= 0 { JournalFile.closeDescriptor(fd) }
                continuation.resume()
            }
        }
    }

    /// Live entries, records in the file, its size in bytes, and compactions so far.
    public var statistics: (entries: Int, records: Int, bytes: Int, compactions: Int) {
        state.withLock { ($0.live.count, $0.recordCount, $0.fileSize, $0.compactions) }
    }

    // MARK: Writing

    private func submit(_ operation: Operation, record: [UInt8]) async throws {
        try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<Void, any Error>) in
            let outcome: Result<Bool, QueueStoreError> = state.withLock { state in
                if state.closed { return .failure(Self.closedError(path)) }
                if let poisoned = state.poisoned { return .failure(poisoned) }
                switch operation {
                case .add(let entry):
                    guard state.ids.insert(entry.id).inserted else {
                        return .failure(
                            QueueStoreError(
                                .duplicateID, "an entry with id \(entry.id) is already stored"))
                    }
                case .update(let entry):
                    guard state.ids.contains(entry.id) else {
                        return .failure(
                            QueueStoreError(.notFound, "no entry with id \(entry.id) is stored"))
                    }
                case .remove(let id):
                    state.ids.remove(id)
                }
                state.pending.append(
                    PendingWrite(operation: operation, record: record, continuation: continuation))
                if state.writerScheduled { return .success(false) }
                state.writerScheduled = true
                return .success(true)
            }
            switch outcome {
            case .failure(let error):
                continuation.resume(throwing: error)
            case .success(let startWriter):
                if startWriter { io.async { self.drain() } }
            }
        }
    }

    /// The writer, on the I/O queue: takes every pending record, writes them in one go,
    /// syncs once, acknowledges them all; repeats until nothing is pending.
    private func drain() {
        dispatchPrecondition(condition: .onQueue(io))
        while true {
            let taken: (batch: [PendingWrite], fd: Int32, size: Int, poisoned: QueueStoreError?)? =
                state.withLock { state in
                    if state.pending.isEmpty {
                        state.writerScheduled = false
                        return nil
                    }
                    let batch = state.pending
                    state.pending = []
                    return (batch, state.fd, state.fileSize, state.poisoned)
                }
            guard let taken else { return }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(taken.batch.reduce(0) { $0 + $1.record.count })
            for write in taken.batch { bytes.append(contentsOf: write.record) }

            var failure: QueueStoreError?
            var poison = false
            do throws(QueueStoreError) {
                if taken.fd < 0 { throw Self.closedError(path) }
                // Writes queued behind a failed sync are refused, not written: after a
                // failed fsync the kernel may have dropped pages it had accepted, and the
                // failed batch's bytes stay in the file beyond `fileSize`, so a later
                // take-back of a failed write would cut acknowledged records.
                if let poisoned = taken.poisoned { throw poisoned }
                do throws(QueueStoreError) {
                    try JournalFile.writeAll(fd: taken.fd, bytes, path: path)
                } catch {
                    // Take back a partial write so later records still follow intact ones.
                    do throws(QueueStoreError) {
                        try JournalFile.truncate(fd: taken.fd, to: taken.size, path: path)
                    } catch {
                        poison = true
                    }
                    throw error
                }
                do throws(QueueStoreError) {
                    try JournalFile.sync(fd: taken.fd, path: path)
                } catch {
                    poison = true
                    // The batch's records are complete in the file (the page cache
                    // serves them to a reopen), yet every caller is told they failed:
                    // cut them off, so a reopen does not replay a hold or a removal its
                    // caller was told did not happen. Everything before `size` was
                    // synced earlier. If even this fails, the reopen may replay them.
                    try? JournalFile.truncate(fd: taken.fd, to: taken.size, path: path)
                    try? JournalFile.sync(fd: taken.fd, path: path)
                    throw error
                }
            } catch {
                failure = error
            }

            state.withLock { state in
                if let failure {
                    if poison {
                        state.poisoned = QueueStoreError(
                            .poisoned, errno: failure.errno,
                            "the queue journal \(path) failed to sync or to take back a failed write; reopen it to recover (\(failure.message))"
                        )
                    }
                    // Validation state back to what is durable plus what is still pending.
                    var ids = Set(state.live.keys)
                    for write in state.pending { Self.apply(write.operation, to: &ids) }
                    state.ids = ids
                } else {
                    for write in taken.batch {
                        switch write.operation {
                        case .add(let entry), .update(let entry): state.live[entry.id] = entry
                        case .remove(let id): state.live[id] = nil
                        }
                    }
                    state.recordCount += taken.batch.count
                    state.fileSize += bytes.count
                }
            }
            for write in taken.batch {
                if let failure {
                    write.continuation.resume(throwing: failure)
                } else {
                    write.continuation.resume()
                }
            }
            if failure == nil, needsCompaction() {
                // A failed compaction leaves the old journal in place; nothing is lost. Try
                // again only after as many dead records again, not after every batch.
                do throws(QueueStoreError) {
                    try compactBlocking()
                } catch {
                    state.withLock {
                        $0.nextCompactionAttempt =
                            $0.recordCount + options.compactionMinimumDeadRecords
                    }
                }
            }
        }
    }

    private static func apply(_ operation: Operation, to ids: inout Set<String>) {
        switch operation {
        case .add(let entry), .update(let entry): ids.insert(entry.id)
        case .remove(let id): ids.remove(id)
        }
    }

    private func needsCompaction() -> Bool {
        state.withLock { state in
            let dead = state.recordCount - state.live.count
            return state.recordCount >= state.nextCompactionAttempt
                && dead >= options.compactionMinimumDeadRecords
                && Double(dead) > Double(state.live.count) * options.compactionDeadRatio
        }
    }

    /// Rewrites the journal from the live entries. On the I/O queue only.
    private func compactBlocking() throws(QueueStoreError) {
        dispatchPrecondition(condition: .onQueue(io))
        let (live, oldFD, closed) = state.withLock { ($0.live, $0.fd, $0.closed || $0.fd < 0) }
        if closed { throw Self.closedError(path) }
        let image = Self.snapshot(live)
        let newFD = try JournalFile.replace(
            path: path, temporaryPath: path + ".compact", with: image)
        state.withLock { state in
            state.fd = newFD
            state.recordCount = live.count
            state.fileSize = image.count
            state.compactions += 1
        }
        JournalFile.closeDescriptor(oldFD)
        do throws(QueueStoreError) {
            try JournalFile.syncDirectory(of: path)
        } catch {
            state.withLock {
                $0.poisoned = QueueStoreError(
                    .poisoned, errno: error.errno,
                    "the compacted queue journal \(path) may not survive a crash (\(error.message)); reopen it"
                )
            }
            throw error
        }
    }

    private func onIOQueue<T: Sendable>(_ work: @escaping @Sendable () throws(QueueStoreError) -> T)
        async throws -> T
    {
        try await withCheckedThrowingContinuation { continuation in
            io.async {
                continuation.resume(with: Result { () throws(QueueStoreError) in try work() })
            }
        }
    }

    private static func closedError(_ path: String) -> QueueStoreError {
        QueueStoreError(.closed, "the queue journal \(path) was closed")
    }
}
