import Dispatch
import Foundation
import Sockets

/// The default durable queue store: an append-only journal file of checksummed records,
/// shared by any number of processes on one machine through leases.
///
/// - **Short exclusive sections, never a lock held for a run.** Each operation (or each
///   batch of operations that arrived together) takes the journal's `flock`, catches up
///   by replaying the records other processes appended since this store last looked,
///   checks the operation against that (duplicate ids, lease tokens), appends its
///   records, `fdatasync`s, and unlocks. A `queue run` holds the lock only for these
///   moments, never while it delivers, so a `send` never waits for a run that is working.
/// - **Leases are records.** A claim or a renewal writes a lease record (entry id, token,
///   expiry); complete, reschedule and give up are written only if the token is the
///   entry's current one when checked under the lock (otherwise `lease-lost`). A process
///   that dies holding leases leaves them to expire: its entries come back then.
/// - **Durable before return.** Writes return only after their records were written and
///   synced. Calls that arrive while a section runs are done together in the next one and
///   share its sync (group commit).
/// - **Crash-safe.** Every record carries a CRC-32C. Opening (and any section that finds
///   damage) replays every intact record, cuts off a torn tail (the beginning of a record
///   a crash cut short: never acknowledged), and steps over damaged records by
///   resynchronising on the next record's magic number. A journal with damage anywhere,
///   its last record included, is rewritten from the recovered entries and the damaged
///   original is kept beside it (`PATH.damaged-UNIXTIME`); ``recovery`` reports it.
/// - **Compacted.** When dead records outnumber the live entries (and there are at least
///   ``Options/compactionMinimumDeadRecords``), the live entries and their leases are
///   written to `PATH.compact`, fsynced, renamed over the journal, and the directory
///   fsynced, under the lock. Other processes notice the new file at their next section.
/// - **Poisoned by a failed fsync.** Once a sync fails, that section's calls and every
///   write behind them throw, and later writes throw `poisoned`: reopen to recover.
/// - **Off the cooperative pool.** All blocking file work (lock waits included) runs on
///   the store's own serial `DispatchQueue` and is awaited through continuations.
///
/// Delivery is at least once; see ``QueueStore`` for the duplicate a crash can cause and
/// how to recognise it (the `Message-ID`).
///
/// ```swift
/// let store = try await FileJournalQueueStore.open(path: "/var/spool/myapp/queue.journal")
/// if !store.recovery.isClean { logger.warning("queue journal: \(store.recovery)") }
/// ```
public final class FileJournalQueueStore: QueueStoreMakingDue {
    /// Tuning for a journal store.
    public struct Options: Sendable, Hashable {
        /// Compact only when at least this many records are dead.
        public var compactionMinimumDeadRecords: Int
        /// Compact when dead records exceed live entries times this ratio.
        public var compactionDeadRatio: Double
        /// How long an operation waits for another process's section to end before
        /// throwing `locked`. Sections are short (an append and a sync, or a compaction),
        /// so only a stuck process makes this run out; at most a minute.
        public var lockPatience: Duration

        /// Creates options; the defaults compact once 1,000 dead records outnumber the live
        /// entries, and wait up to 5 seconds for another process's section.
        public init(
            compactionMinimumDeadRecords: Int = 1000, compactionDeadRatio: Double = 1,
            lockPatience: Duration = .seconds(5)
        ) {
            self.compactionMinimumDeadRecords = max(compactionMinimumDeadRecords, 1)
            self.compactionDeadRatio = max(compactionDeadRatio, 0)
            self.lockPatience = min(max(lockPatience, .zero), .seconds(60))
        }
    }

    private enum Request {
        case enqueue(QueueEntry)
        case enqueueLeased(QueueEntry, leaseFor: Duration, now: Date)
        case claim(now: Date, limit: Int, leaseFor: Duration)
        case renew(QueueLease, leaseFor: Duration, now: Date)
        case complete(QueueLease)
        case reschedule(QueueLease, attempts: Int, nextAttemptAt: Date, lastReason: String?)
        case purge(createdBefore: Date, now: Date)
        case makeDue(now: Date)
        case list
        case nextDueDate(maxAge: Duration)
        case compact

        var writes: Bool {
            switch self {
            case .list, .nextDueDate, .compact: false
            default: true
            }
        }
    }

    private enum Reply: Sendable {
        case done
        case lease(QueueLease)
        case claimed([ClaimedEntry])
        case entries([QueueEntry])
        case date(Date?)
    }

    private struct Pending {
        var request: Request
        var continuation: CheckedContinuation<Reply, any Error>
    }

    /// What callers on any thread touch.
    private struct Shared {
        var closed = false
        var poisoned: QueueStoreError?
        var pending: [Pending] = []
        var sectionScheduled = false
        var entries = 0
        var records = 0
        var bytes = 0
        var compactions = 0
        var recovery: JournalRecoveryReport
    }

    /// The journal as this store last read it. Only the I/O queue touches it, one section
    /// at a time; the mutex (never contended) is what lets the compiler see that.
    private struct View {
        var fd: Int32 = -1
        /// Bytes replayed: the file's size after this store's last section.
        var offset = 0
        var table = QueueLeaseTable()
        var recordCount = 0
        /// After a failed compaction, the record count at which to try again.
        var nextCompactionAttempt = 0
        /// The table may hold changes that never reached the file: replay from scratch.
        var stale = true
    }

    /// The journal's path.
    public let path: String
    /// The tuning in force.
    public let options: Options

    private let io: DispatchQueue
    private let shared: Lock<Shared>
    private let view: Lock<View>

    private init(
        path: String, options: Options, io: DispatchQueue, view: View,
        recovery: JournalRecoveryReport
    ) {
        self.path = path
        self.options = options
        self.io = io
        self.view = Lock(view)
        shared = Lock(Shared(recovery: recovery))
        refreshStatistics(view)
    }

    deinit {
        let fd = view.withLock { $0.fd }
        if fd >= 0 { JournalFile.closeDescriptor(fd) }
    }

    /// What recovery found when the journal was opened, or later damage a section found
    /// and repaired (the latest report that was not clean).
    public var recovery: JournalRecoveryReport { shared.withLock { $0.recovery } }

    /// Opens (or creates) the journal at `path` and recovers its entries.
    ///
    /// - Throws: ``QueueStoreError`` with code `not-a-journal` if the file holds no journal
    ///   at all (it is left untouched), `io-failed` if a system call fails (`errno`
    ///   `ENOENT` when the folder does not exist; a directory, a FIFO or a device is
    ///   refused), `locked` if another process kept the journal locked past
    ///   ``Options/lockPatience``.
    public static func open(path: String, options: Options = Options()) async throws
        -> FileJournalQueueStore
    {
        let io = DispatchQueue(label: "DirectSMTP.FileJournalQueueStore")
        // The store is built on the I/O queue and handed over through a lock as well as the
        // continuation: the continuation alone orders the two threads through an atomic
        // inside the concurrency runtime, which ThreadSanitizer cannot see, and it then
        // reported every first use of the new store as a race with its initializer.
        let handoff = OpenHandoff()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            io.async {
                let result = Result { () throws(QueueStoreError) in
                    var view = View()
                    view.fd = try JournalFile.open(path: path)
                    do throws(QueueStoreError) {
                        try JournalFile.lock(
                            view.fd, path: path, patience: options.lockPatience)
                        defer { JournalFile.unlock(view.fd) }
                        let report = try reload(&view, path: path)
                        return FileJournalQueueStore(
                            path: path, options: options, io: io, view: view, recovery: report)
                    } catch {
                        JournalFile.closeDescriptor(view.fd)
                        throw error
                    }
                }
                handoff.result.withLock { $0 = result }
                continuation.resume()
            }
        }
        // Set before the resume above, so never nil here.
        guard let result = handoff.result.withLock({ $0 }) else { throw closedError(path) }
        return try result.get()
    }

    /// Carries ``open(path:options:)``'s result from the I/O queue to the caller.
    private final class OpenHandoff: Sendable {
        let result = Lock<Result<FileJournalQueueStore, QueueStoreError>?>(nil)
    }

    // MARK: QueueStore

    /// Stores a new, unleased entry; returns after its record is on disk.
    public func enqueue(_ entry: QueueEntry) async throws {
        _ = try await submit(.enqueue(entry))
    }

    /// Stores a new entry leased by the caller until `now + leaseFor`.
    public func enqueueLeased(_ entry: QueueEntry, leaseFor: Duration, now: Date) async throws
        -> QueueLease
    {
        guard
            case .lease(let lease) = try await submit(
                .enqueueLeased(entry, leaseFor: leaseFor, now: now))
        else { throw Self.internalError() }
        return lease
    }

    /// Claims up to `limit` due entries no live lease holds, earliest due first.
    public func claimDue(now: Date, limit: Int, leaseFor: Duration) async throws -> [ClaimedEntry] {
        guard limit > 0 else { return [] }
        guard
            case .claimed(let claims) = try await submit(
                .claim(now: now, limit: limit, leaseFor: leaseFor))
        else { throw Self.internalError() }
        return claims
    }

    /// Extends a lease still held.
    public func renew(_ lease: QueueLease, leaseFor: Duration, now: Date) async throws -> QueueLease
    {
        guard
            case .lease(let renewed) = try await submit(.renew(lease, leaseFor: leaseFor, now: now))
        else { throw Self.internalError() }
        return renewed
    }

    /// Removes a delivered entry.
    public func complete(_ lease: QueueLease) async throws {
        _ = try await submit(.complete(lease))
    }

    /// Stores a deferred entry's new bookkeeping and releases its lease.
    public func reschedule(
        _ lease: QueueLease, attempts: Int, nextAttemptAt: Date, lastReason: String?
    ) async throws {
        _ = try await submit(
            .reschedule(
                lease, attempts: attempts, nextAttemptAt: nextAttemptAt, lastReason: lastReason))
    }

    /// Removes an entry given up (the journal keeps no reason: the caller reports it).
    public func giveUp(_ lease: QueueLease, reason: String) async throws {
        _ = try await submit(.complete(lease))
    }

    /// Removes and returns the entries created before `cutoff` not under a live lease.
    public func purge(createdBefore cutoff: Date, now: Date) async throws -> [QueueEntry] {
        guard case .entries(let purged) = try await submit(.purge(createdBefore: cutoff, now: now))
        else { throw Self.internalError() }
        return purged
    }

    /// Every stored entry, as the journal holds it now (other processes' writes included).
    public func list() async throws -> [QueueEntry] {
        guard case .entries(let entries) = try await submit(.list) else {
            throw Self.internalError()
        }
        return entries
    }

    /// The earliest time an entry can be claimed or purged, as the journal holds it now
    /// (other processes' writes included); `nil` when empty.
    public func nextDueDate(maxAge: Duration) async throws -> Date? {
        guard case .date(let date) = try await submit(.nextDueDate(maxAge: maxAge)) else {
            throw Self.internalError()
        }
        return date
    }

    /// Makes every entry no live lease holds due at `now` (`queue run --all`).
    public func makeDue(now: Date) async throws -> Int {
        guard case .entries(let changed) = try await submit(.makeDue(now: now))
        else { throw Self.internalError() }
        return changed.count
    }

    // MARK: Other operations

    /// Rewrites the journal with only the live entries now, whatever the dead count.
    public func compact() async throws {
        _ = try await submit(.compact)
    }

    /// Finishes pending work and closes the file. Later calls throw `closed`. Idempotent.
    public func close() async {
        shared.withLock { $0.closed = true }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            io.async {
                // Work accepted just before `closed` was set may have its section queued
                // behind this block: do it now, while the file is still open.
                self.runSections()
                let fd = self.view.withLock { view in
                    let fd = view.fd
                    view.fd = -1
                    return fd
                }
                JournalFile.closeDescriptor(fd)
                continuation.resume()
            }
        }
    }

    /// Live entries, records in the file, its size in bytes, and compactions so far (this
    /// store's view as of its last section).
    public var statistics: (entries: Int, records: Int, bytes: Int, compactions: Int) {
        shared.withLock { ($0.entries, $0.records, $0.bytes, $0.compactions) }
    }

    // MARK: Sections

    private func submit(_ request: Request) async throws -> Reply {
        try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<Reply, any Error>) in
            let start: Result<Bool, QueueStoreError> = shared.withLock { shared in
                if shared.closed { return .failure(Self.closedError(path)) }
                shared.pending.append(Pending(request: request, continuation: continuation))
                if shared.sectionScheduled { return .success(false) }
                shared.sectionScheduled = true
                return .success(true)
            }
            switch start {
            case .failure(let error): continuation.resume(throwing: error)
            case .success(let schedule): if schedule { io.async { self.runSections() } }
            }
        }
    }

    /// On the I/O queue: runs sections until nothing is pending, each over every request
    /// pending when it starts.
    private func runSections() {
        dispatchPrecondition(condition: .onQueue(io))
        while true {
            let batch: [Pending]? = shared.withLock { shared in
                if shared.pending.isEmpty {
                    shared.sectionScheduled = false
                    return nil
                }
                defer { shared.pending = [] }
                return shared.pending
            }
            guard let batch else { return }
            let replies = view.withLock { view in section(batch.map(\.request), &view) }
            for (pending, reply) in zip(batch, replies) {
                pending.continuation.resume(with: reply.mapError { $0 as any Error })
            }
        }
    }

    /// One exclusive section: lock, catch up, apply `requests` in order, append and sync
    /// their records, maybe compact, unlock. One reply per request.
    private func section(_ requests: [Request], _ view: inout View) -> [Result<
        Reply, QueueStoreError
    >] {
        do throws(QueueStoreError) {
            try enter(&view)
        } catch {
            return requests.map { _ in .failure(error) }
        }
        defer {
            JournalFile.unlock(view.fd)
            refreshStatistics(view)
        }
        let poisoned = shared.withLock { $0.poisoned }
        var records: [UInt8] = []
        var recordCount = 0
        var compactNow = false
        var replies: [Result<Reply, QueueStoreError>] = []
        replies.reserveCapacity(requests.count)
        for request in requests {
            if case .compact = request { compactNow = true }
            if request.writes, let poisoned {
                replies.append(.failure(poisoned))
                continue
            }
            replies.append(
                Result { () throws(QueueStoreError) in
                    try Self.perform(
                        request, on: &view.table, records: &records, count: &recordCount)
                })
        }
        if !records.isEmpty {
            do throws(QueueStoreError) {
                try append(records, &view)
                view.recordCount += recordCount
            } catch {
                // The table holds changes the file does not: replay it next time.
                view.stale = true
                return replies.map { reply in reply.flatMap { _ in .failure(error) } }
            }
        }
        if compactNow || needsCompaction(view) {
            do throws(QueueStoreError) {
                try compact(&view)
            } catch {
                // The old journal stays in place; nothing is lost. Try again only after as
                // many dead records again, not after every section.
                view.nextCompactionAttempt = view.recordCount + options.compactionMinimumDeadRecords
                if compactNow {
                    replies = zip(requests, replies).map { request, reply in
                        if case .compact = request { return .failure(error) }
                        return reply
                    }
                }
            }
        }
        return replies
    }

    /// Takes the lock on the journal now named `path` and brings `view` up to date with it.
    private func enter(_ view: inout View) throws(QueueStoreError) {
        if view.fd < 0 { throw Self.closedError(path) }
        // A compaction elsewhere renames a new file over the path; if that happened
        // before we locked, our lock is on the old file. Check, reopen, retry.
        var attempts = 0
        while true {
            try JournalFile.lock(view.fd, path: path, patience: options.lockPatience)
            if JournalFile.isCurrent(view.fd, path: path) { break }
            JournalFile.unlock(view.fd)
            attempts += 1
            guard attempts < 16 else {
                throw QueueStoreError(
                    .locked,
                    "the queue journal \(path) kept being replaced while this store tried to lock it"
                )
            }
            let fd = try JournalFile.open(path: path)
            JournalFile.closeDescriptor(view.fd)
            view.fd = fd
            view.stale = true
        }
        do throws(QueueStoreError) {
            if view.stale {
                let report = try Self.reload(&view, path: path)
                if !report.isClean { shared.withLock { $0.recovery = report } }
            } else {
                try catchUp(&view)
            }
        } catch {
            JournalFile.unlock(view.fd)
            throw error
        }
    }

    /// Replays what other processes appended since this store's last section. Damage
    /// found there sends the journal through full recovery; a torn tail (a writer that
    /// died mid-write, holding the lock we now hold) is cut off.
    private func catchUp(_ view: inout View) throws(QueueStoreError) {
        let size = try JournalFile.size(fd: view.fd, path: path)
        if size == view.offset { return }
        guard size > view.offset else {
            // Shorter than what we replayed: changed behind every writer's back.
            let report = try Self.reload(&view, path: path)
            shared.withLock { $0.recovery = report }
            return
        }
        let bytes = try JournalFile.read(fd: view.fd, from: view.offset, path: path)
        var table = QueueLeaseTable()
        swap(&table, &view.table)  // replayed in place, not copied
        let scan = bytes.withUnsafeBytes { buffer in
            JournalScanner(buffer, header: false) { table.apply($0) }
        }
        swap(&table, &view.table)
        if !scan.report.damagedRegions.isEmpty {
            let report = try Self.reload(&view, path: path)
            shared.withLock { $0.recovery = report }
            return
        }
        view.recordCount += scan.report.recordCount
        view.offset += scan.validEnd
        if scan.report.tornTailBytes > 0 {
            try JournalFile.truncate(fd: view.fd, to: view.offset, path: path)
            try JournalFile.sync(fd: view.fd, path: path)
        }
    }

    /// Reads the whole journal (under the lock) into `view`, repairing it as needed: a new
    /// or half-created file gets its header, a leftover compaction file goes, a torn tail
    /// is cut off, a damaged journal is kept aside and rewritten.
    private static func reload(_ view: inout View, path: String) throws(QueueStoreError)
        -> JournalRecoveryReport
    {
        // A crash during a compaction leaves its temporary file; the journal is whole.
        try JournalFile.removeLeftoverTemporary(path + ".compact")
        let bytes = try JournalFile.read(fd: view.fd, path: path)
        let header = JournalRecord.fileHeader
        // Empty, or a header cut short by a crash while creating the file: a new journal.
        if bytes.count < header.count && bytes.elementsEqual(header.prefix(bytes.count)) {
            try JournalFile.truncate(fd: view.fd, to: 0, path: path)
            try JournalFile.writeAll(fd: view.fd, header, path: path)
            try JournalFile.sync(fd: view.fd, path: path)
            try JournalFile.syncDirectory(of: path)
            view.table = QueueLeaseTable()
            view.offset = header.count
            view.recordCount = 0
            view.stale = false
            return JournalRecoveryReport(
                fileSize: bytes.count, recordCount: 0, entryCount: 0, headerDamaged: false,
                damagedRegions: [], tornTailBytes: 0, preservedCopyPath: nil)
        }
        let (scan, table) = bytes.withUnsafeBytes { JournalScanner.scan($0) }
        var report = scan.report
        if report.recordCount == 0 && report.headerDamaged {
            throw QueueStoreError(
                .notAJournal,
                "\(path) is not a DirectSMTP queue journal (no valid header and no valid record); it was left untouched"
            )
        }
        var size = scan.validEnd
        var recordCount = report.recordCount
        if report.hasCorruption {
            // Keep the damaged file as found, and go on with a clean rewrite.
            report.preservedCopyPath = try JournalFile.preserve(
                path: path, as: "\(path).damaged-\(Int(Date().timeIntervalSince1970))")
            let image = snapshot(table)
            let newFD = try JournalFile.replace(
                path: path, temporaryPath: path + ".compact", with: image)
            JournalFile.closeDescriptor(view.fd)
            view.fd = newFD
            try JournalFile.syncDirectory(of: path)
            size = image.count
            recordCount = table.count
        } else {
            if report.tornTailBytes > 0 {
                try JournalFile.truncate(fd: view.fd, to: scan.validEnd, path: path)
                try JournalFile.sync(fd: view.fd, path: path)
            }
            // The journal's own name may never have been synced (a crash between its
            // creation and the directory sync, or a file made by hand), and the leftover
            // temporary's removal should hold too: appends acknowledged from now on must
            // not vanish with the directory entry.
            try JournalFile.syncDirectory(of: path)
        }
        view.table = table
        view.offset = size
        view.recordCount = recordCount
        view.stale = false
        return report
    }

    /// Checks `request` against `table`, applies it there, and appends its records.
    private static func perform(
        _ request: Request, on table: inout QueueLeaseTable, records: inout [UInt8],
        count: inout Int
    ) throws(QueueStoreError) -> Reply {
        switch request {
        case .list:
            return .entries(table.entries)
        case .nextDueDate(let maxAge):
            return .date(table.nextDueDate(maxAge: maxAge))
        case .compact:
            return .done
        case .enqueue(let entry):
            try table.checkNew(entry)
            records += try JournalRecord.encode(.add, entry: entry)
            count += 1
            table.put(entry, lease: nil)
            return .done
        case .enqueueLeased(let entry, let leaseFor, let now):
            try table.checkNew(entry)
            let lease = QueueLease(
                entryID: entry.id, token: QueueLease.makeToken(), expiresAt: now.adding(leaseFor))
            records += try JournalRecord.encodeAddLeased(entry, lease: lease)
            count += 1
            table.put(entry, lease: lease)
            return .lease(lease)
        case .claim(let now, let limit, let leaseFor):
            var claims: [ClaimedEntry] = []
            for entry in table.due(now: now, limit: limit) {
                let lease = QueueLease(
                    entryID: entry.id, token: QueueLease.makeToken(),
                    expiresAt: now.adding(leaseFor))
                records += try JournalRecord.encodeLease(lease)
                count += 1
                table.setLease(lease, of: entry.id)
                claims.append(ClaimedEntry(entry: entry, lease: lease))
            }
            return .claimed(claims)
        case .renew(let lease, let leaseFor, let now):
            _ = try table.held(by: lease)
            var renewed = lease
            renewed.expiresAt = now.adding(leaseFor)
            records += try JournalRecord.encodeLease(renewed)
            count += 1
            table.setLease(renewed, of: lease.entryID)
            return .lease(renewed)
        case .complete(let lease):
            _ = try table.held(by: lease)
            records += JournalRecord.encodeRemove(id: lease.entryID)
            count += 1
            table.remove(lease.entryID)
            return .done
        case .reschedule(let lease, let attempts, let nextAttemptAt, let lastReason):
            _ = try table.held(by: lease)
            records += try JournalRecord.encodeReschedule(
                id: lease.entryID, attempts: attempts, nextAttemptAt: nextAttemptAt,
                lastReason: lastReason)
            count += 1
            table.reschedule(
                lease.entryID, attempts: attempts, nextAttemptAt: nextAttemptAt,
                lastReason: lastReason)
            return .done
        case .purge(let cutoff, let now):
            let purged = table.purgeable(createdBefore: cutoff, now: now)
            for entry in purged {
                records += JournalRecord.encodeRemove(id: entry.id)
                count += 1
                table.remove(entry.id)
            }
            return .entries(purged)
        case .makeDue(let now):
            let later = table.notDue(now: now)
            for entry in later {
                records += try JournalRecord.encodeReschedule(
                    id: entry.id, attempts: entry.attempts, nextAttemptAt: now,
                    lastReason: entry.lastReason)
                count += 1
                table.reschedule(
                    entry.id, attempts: entry.attempts, nextAttemptAt: now,
                    lastReason: entry.lastReason)
            }
            return .entries(later)
        }
    }

    /// Appends `records` and syncs; a failure takes the bytes back (or poisons the store).
    private func append(_ records: [UInt8], _ view: inout View) throws(QueueStoreError) {
        var poison = false
        do throws(QueueStoreError) {
            do throws(QueueStoreError) {
                try JournalFile.writeAll(fd: view.fd, records, path: path)
            } catch {
                // Take back a partial write so later records still follow intact ones.
                do throws(QueueStoreError) {
                    try JournalFile.truncate(fd: view.fd, to: view.offset, path: path)
                } catch {
                    poison = true
                }
                throw error
            }
            do throws(QueueStoreError) {
                try JournalFile.sync(fd: view.fd, path: path)
            } catch {
                poison = true
                // The records are complete in the file (the page cache serves them to
                // other readers), yet every caller is told they failed: cut them off, so
                // nobody replays a change its caller was told did not happen. Everything
                // before `offset` was synced earlier. If even this fails, a reader may
                // replay them: the store is poisoned either way.
                try? JournalFile.truncate(fd: view.fd, to: view.offset, path: path)
                try? JournalFile.sync(fd: view.fd, path: path)
                throw error
            }
        } catch {
            if poison {
                shared.withLock {
                    $0.poisoned = QueueStoreError(
                        .poisoned, errno: error.errno,
                        "the queue journal \(path) failed to sync or to take back a failed write; reopen it to recover (\(error.message))"
                    )
                }
            }
            throw error
        }
        view.offset += records.count
    }

    private func needsCompaction(_ view: View) -> Bool {
        let dead = view.recordCount - view.table.count
        return view.recordCount >= view.nextCompactionAttempt
            && dead >= options.compactionMinimumDeadRecords
            && Double(dead) > Double(view.table.count) * options.compactionDeadRatio
    }

    /// Rewrites the journal from the live entries and their leases, under the lock. The
    /// new file is locked before it is renamed into place, so the section stays exclusive.
    private func compact(_ view: inout View) throws(QueueStoreError) {
        let image = Self.snapshot(view.table)
        let newFD = try JournalFile.replace(
            path: path, temporaryPath: path + ".compact", with: image)
        JournalFile.closeDescriptor(view.fd)
        view.fd = newFD
        view.offset = image.count
        view.recordCount = view.table.count
        shared.withLock { $0.compactions += 1 }
        do throws(QueueStoreError) {
            try JournalFile.syncDirectory(of: path)
        } catch {
            shared.withLock {
                $0.poisoned = QueueStoreError(
                    .poisoned, errno: error.errno,
                    "the compacted queue journal \(path) may not survive a crash (\(error.message)); reopen it"
                )
            }
            throw error
        }
    }

    /// A whole journal file holding `table`: one add (or add-leased) record per entry.
    private static func snapshot(_ table: QueueLeaseTable) -> [UInt8] {
        var image = JournalRecord.fileHeader
        let slots = table.slots.values.sorted {
            ($0.entry.createdAt, $0.entry.id) < ($1.entry.createdAt, $1.entry.id)
        }
        for slot in slots {
            // Every entry here was encoded once already, so encoding cannot fail now.
            if let lease = slot.lease,
                let record = try? JournalRecord.encodeAddLeased(slot.entry, lease: lease)
            {
                image += record
            } else {
                JournalRecord.appendRecord(
                    kind: .add, payload: JournalRecord.encodeEntry(slot.entry), to: &image)
            }
        }
        return image
    }

    private func refreshStatistics(_ view: View) {
        shared.withLock { shared in
            shared.entries = view.table.count
            shared.records = view.recordCount
            shared.bytes = view.offset
        }
    }

    private static func closedError(_ path: String) -> QueueStoreError {
        QueueStoreError(.closed, "the queue journal \(path) was closed")
    }

    private static func internalError() -> QueueStoreError {
        QueueStoreError(
            .ioFailed, "the queue journal store answered a request with the wrong kind of reply")
    }
}
