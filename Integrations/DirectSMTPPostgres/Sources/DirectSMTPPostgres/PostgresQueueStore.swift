import DirectSMTP
import Foundation
import PostgresNIO

/// A ``QueueStore`` in a PostgreSQL table, so several app servers share one delivery queue.
///
/// Workers claim due entries with `SELECT … FOR UPDATE SKIP LOCKED` and a lease (a fresh
/// random token and an expiry): concurrent claimers pass each other's rows by, and a worker
/// that dies leaves its entries to whoever claims them after the lease expires. Every
/// settling call (``complete(_:)``, ``reschedule(_:attempts:nextAttemptAt:lastReason:)``,
/// ``giveUp(_:reason:)``, ``renew(_:leaseFor:now:)``) names the token it holds and changes the
/// row only while that token is still the row's; otherwise it throws `lease-lost`
/// (fencing). Every write but a claim is durable once it returns (with PostgreSQL's default
/// `synchronous_commit = on`).
///
/// Concurrent calls share commits (group commit): enqueues that arrive while another batch
/// is on its way are stored together by one multi-row `INSERT`, and completes, give-ups
/// and reschedules likewise by one statement each, fenced row by row; every caller is
/// answered with its own outcome (a duplicate id or a lost lease fails that caller only)
/// after the commit that holds its row. A commit costs one disk flush however many rows it
/// carries, so many callers cost a few flushes instead of one each.
/// `complete(_:)` with an array of leases and `reschedule(_:)` with an array of
/// ``Rescheduling`` take a whole batch at once, and say which leases were lost.
///
/// A claim's commit does not wait for its disk flush (see
/// ``Configuration/claimsWaitForFlush``): a claim neither stores nor removes a message, and
/// one undone by a server crash only makes its entries claimable again, as an expired
/// lease would.
///
/// The store uses the application's own `PostgresClient` (its pool); the application runs
/// the client. Call ``migrate()`` once at start-up: it creates the table or brings it to
/// this version's schema, and checks the result.
///
/// ```swift
/// let client = PostgresClient(configuration: try PostgresConnectionURL.configuration(from: databaseURL))
/// async let _ = client.run()
/// let store = try PostgresQueueStore(client: client)
/// try await store.migrate()
/// configuration.queueStore = store
/// ```
///
/// Idle workers learn of new entries through `LISTEN`/`NOTIFY` (``dueNotifications()``),
/// with a slow poll as the fallback.
///
/// An operator can read the queue with SQL: one row per entry, with `mail_from`, `rcpt_to`,
/// `message_id`, `attempts`, `last_reason`, `next_attempt_at` and the lease in plain
/// columns, and the message itself in `data` (`bytea`).
public final class PostgresQueueStore: QueueStoreNotifying, QueueStoreMakingDue {
    /// What the store needs besides the client.
    public struct Configuration: Sendable {
        /// The queue table's name (lower-case letters, digits, `_`; at most 48 characters);
        /// also the `NOTIFY` channel. Found through the connection's `search_path`.
        public var table: String
        /// The longest a call waits for the database, connecting included. A call that
        /// runs out throws `database-unavailable`; PostgresNIO's pool alone would keep a
        /// call waiting for a connection for up to a minute.
        public var operationTimeout: Duration
        /// How often ``dueNotifications()`` yields even without a notification: entries whose
        /// lease expired (a worker died) become due without anyone sending one.
        public var pollInterval: Duration
        /// Where PostgresNIO logs the store's transactions.
        public var logger: Logger
        /// Whether a claim returns only after its commit reached the disk. `false` (the
        /// default) commits claims with `synchronous_commit = off` for that transaction
        /// alone: a claim stores no message and removes none, and a claim a server crash
        /// undoes leaves its entries claimable again, as an expired lease would (the worker
        /// that held it then finds its lease lost when it settles: at least once, as with
        /// any lost lease). Every other write always waits for its flush.
        public var claimsWaitForFlush: Bool
        /// The most rows one group-committed statement carries (at most 5,000).
        public var maxBatch: Int
        /// The most group-committed statements of one kind (enqueue, delete, reschedule)
        /// under way at once. While that many wait for their commits, further calls gather
        /// into the next batch; below it a call goes out at once (PostgreSQL then flushes
        /// concurrent commits together). At most the client's pool size is useful.
        public var maxConcurrentBatches: Int

        /// A configuration for `table` (by default `directsmtp_queue`).
        public init(
            table: String = "directsmtp_queue", operationTimeout: Duration = .seconds(10),
            pollInterval: Duration = .seconds(15),
            logger: Logger = Logger(label: "directsmtp.postgres"),
            claimsWaitForFlush: Bool = false, maxBatch: Int = 256, maxConcurrentBatches: Int = 4
        ) {
            self.table = table
            self.operationTimeout = operationTimeout
            self.pollInterval = pollInterval
            self.logger = logger
            self.claimsWaitForFlush = claimsWaitForFlush
            self.maxBatch = maxBatch
            self.maxConcurrentBatches = maxConcurrentBatches
        }
    }

    /// The client (pool) every call runs on.
    public let client: PostgresClient
    /// The configuration the store was made with.
    public let configuration: Configuration
    let schema: QueueTableSchema
    private let wakeUps = WakeUpCoalescer()
    private let enqueues: CallCoalescer<QueueEntry, Void>
    private let deletions: CallCoalescer<LeaseAction, Void>
    private let reschedules: CallCoalescer<Rescheduling, Void>

    /// One entry's new bookkeeping for ``reschedule(_:)``.
    public struct Rescheduling: Sendable, Hashable {
        /// The lease that must still hold the entry.
        public var lease: QueueLease
        /// The number of attempts made so far.
        public var attempts: Int
        /// When the entry is due next.
        public var nextAttemptAt: Date
        /// Why the last attempt did not deliver it.
        public var lastReason: String?

        /// The new bookkeeping of `lease`'s entry.
        public init(lease: QueueLease, attempts: Int, nextAttemptAt: Date, lastReason: String?) {
            self.lease = lease
            self.attempts = attempts
            self.nextAttemptAt = nextAttemptAt
            self.lastReason = lastReason
        }
    }

    /// A settling call waiting for its batch: the lease and what the caller was doing.
    private struct LeaseAction: Sendable {
        var lease: QueueLease
        var operation: String
    }

    /// A store on `client`'s database. Does no I/O: call ``migrate()`` before using it.
    ///
    /// - Throws: `invalid-configuration` for a table name that is not a plain identifier.
    public init(client: PostgresClient, configuration: Configuration = Configuration()) throws(QueueStoreError) {
        self.client = client
        self.configuration = configuration
        let schema = try QueueTableSchema(table: configuration.table)
        self.schema = schema
        let runner = StatementRunner(client: client, schema: schema, timeout: configuration.operationTimeout)
        // At most 65,535 parameters a statement: 11 per enqueued row.
        let maxBatch = min(max(configuration.maxBatch, 1), 5_000)
        let inFlight = max(configuration.maxConcurrentBatches, 1)
        enqueues = CallCoalescer(maxBatch: maxBatch, maxInFlight: inFlight) { entries in
            await runner.insertMany(entries)
        }
        deletions = CallCoalescer(maxBatch: maxBatch, maxInFlight: inFlight) { actions in
            await Self.answer(actions.map { ($0.lease, $0.operation) }) {
                try await runner.deleteMany(actions.map(\.lease))
            }
        }
        reschedules = CallCoalescer(maxBatch: maxBatch, maxInFlight: inFlight) { items in
            await Self.answer(items.map { ($0.lease, "reschedule") }) {
                try await runner.rescheduleMany(items)
            }
        }
    }

    /// The queue table's name.
    public var table: String { schema.table }

    // MARK: Schema

    /// Creates the queue table or migrates it to this version's schema, then checks its
    /// columns. Idempotent, and safe when several servers call it at once: migrations take
    /// a transaction-scoped advisory lock.
    ///
    /// - Throws: `schema-too-new` when a newer version migrated the table;
    ///   `schema-mismatch` when the table lacks a column or has one of another type;
    ///   `database-unavailable` or `authentication-failed` when the database cannot be used.
    public func migrate() async throws {
        let schema = self.schema
        let client = self.client
        let logger = configuration.logger
        try await perform("migrate") {
            // The shared version table first, under a lock every migration of every table
            // takes for this one statement only.
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query(
                    "SELECT pg_advisory_xact_lock(\(QueueTableSchema.migrationLockKey))", logger: logger)
                try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            CREATE TABLE IF NOT EXISTS \(QueueTableSchema.versionTable) (
                                table_name text PRIMARY KEY,
                                version integer NOT NULL,
                                migrated_at timestamptz NOT NULL DEFAULT now()
                            )
                            """), logger: logger)
            }
            // Then this table's steps, under a lock of its own: servers starting together
            // wait for the first, then find the table at the latest version.
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query(
                    "SELECT pg_advisory_xact_lock(\(QueueTableSchema.migrationLockClass), hashtext(\(schema.table)))",
                    logger: logger)
                var current = 0
                let rows = try await connection.query(
                    "SELECT version FROM \(unescaped: QueueTableSchema.versionTable) WHERE table_name = \(schema.table)",
                    logger: logger)
                for try await version in rows.decode(Int32.self) { current = Int(version) }
                let latest = QueueTableSchema.latestVersion
                guard current <= latest else {
                    throw QueueStoreError(
                        .schemaTooNew,
                        "the table \(schema.table) has schema version \(current); this version of DirectSMTPPostgres knows up to \(latest)"
                    )
                }
                guard current < latest else { return }
                for step in current..<latest {
                    for statement in QueueTableSchema.migrations[step](schema) {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                }
                try await connection.query(
                    """
                    INSERT INTO \(unescaped: QueueTableSchema.versionTable) (table_name, version) VALUES (\(schema.table), \(Int32(latest)))
                    ON CONFLICT (table_name) DO UPDATE SET version = EXCLUDED.version, migrated_at = now()
                    """, logger: logger)
            }
        }
        try await verifySchema()
    }

    /// Checks that the queue table has every column this store uses, with the expected
    /// types (``migrate()`` does this too).
    ///
    /// - Throws: `schema-mismatch` naming every missing or retyped column.
    public func verifySchema() async throws {
        let schema = self.schema
        let client = self.client
        let found = try await perform("verify schema") {
            var columns: [String: String] = [:]
            let rows = try await client.query(
                PostgresQuery(unsafeSQL: QueueTableSchema.describeColumns, binds: try binds(schema.quoted)))
            for try await (name, type) in rows.decode((String, String).self) { columns[name] = type }
            return columns
        }
        if let problem = QueueTableSchema.mismatch(table: schema.table, found: found) {
            throw QueueStoreError(.schemaMismatch, problem + "; nothing was changed")
        }
    }

    // MARK: QueueStore

    /// Stores a new, unleased entry; returns once it is committed. Throws `duplicate-id`
    /// for an id already stored, and never returns normally unless the row is committed.
    ///
    /// Concurrent enqueues are group-committed: the calls that arrive while a batch is on
    /// its way go to the database together as one multi-row `INSERT` in one transaction,
    /// and each caller is answered after that transaction's commit (with
    /// `synchronous_commit = on`: after its flush), with its own outcome. The wake-up for
    /// idle workers (`NOTIFY`, a transaction and a flush of its own) follows in the
    /// background: the caller does not wait for it.
    public func enqueue(_ entry: QueueEntry) async throws {
        try await enqueues.submit(entry)
        wakeUps.signalInBackground { await self.sendWakeUp() }
    }

    /// Stores a new entry leased to the caller until `now + leaseFor`; returns once it is
    /// committed.
    public func enqueueLeased(_ entry: QueueEntry, leaseFor: Duration, now: Date) async throws -> QueueLease {
        let lease = QueueLease(entryID: entry.id, token: QueueLease.makeToken(), expiresAt: now.adding(leaseFor))
        try await insert(entry, lease: lease, operation: "enqueueLeased")
        return lease
    }

    /// Claims up to `limit` due entries (unleased, or whose lease expired), earliest due
    /// first, each with a fresh token until `now + leaseFor`.
    public func claimDue(now: Date, limit: Int, leaseFor: Duration) async throws -> [ClaimedEntry] {
        guard limit > 0 else { return [] }
        let expiresAt = now.adding(leaseFor)
        let sql = schema.claim
        let waitForFlush = configuration.claimsWaitForFlush
        let client = self.client
        let claimed = try await perform("claimDue") {
            let rows = try await client.query(
                PostgresQuery(unsafeSQL: sql, binds: try binds(now, Int32(clamping: limit), expiresAt, waitForFlush)))
            var claimed: [ClaimedEntry] = []
            for try await row in rows {
                let (entry, token) = try StoredRow.decode(row)
                guard let token else { continue }
                // The lease carries the exact expiry asked for; the column keeps microseconds.
                claimed.append(ClaimedEntry(entry: entry, lease: QueueLease(entryID: entry.id, token: token, expiresAt: expiresAt)))
            }
            return claimed
        }
        // RETURNING follows no ORDER BY: restore the claim's order.
        return claimed.sorted {
            ($0.entry.nextAttemptAt, $0.entry.createdAt) < ($1.entry.nextAttemptAt, $1.entry.createdAt)
        }
    }

    /// Extends a lease still held to `now + leaseFor`; `lease-lost` otherwise.
    public func renew(_ lease: QueueLease, leaseFor: Duration, now: Date) async throws -> QueueLease {
        let expiresAt = now.adding(leaseFor)
        try await actOnLease(lease, "renew", sql: schema.renew, extra: expiresAt)
        return QueueLease(entryID: lease.entryID, token: lease.token, expiresAt: expiresAt)
    }

    /// Delivered: deletes the entry, if `lease` still holds it; `lease-lost` otherwise.
    /// Group-committed with concurrent completes and give-ups (fenced row by row).
    public func complete(_ lease: QueueLease) async throws {
        try await deletions.submit(LeaseAction(lease: lease, operation: "complete"))
    }

    /// Deferred again: stores the new bookkeeping and releases the lease, if `lease` still
    /// holds the entry; `lease-lost` otherwise. Group-committed with concurrent reschedules.
    public func reschedule(_ lease: QueueLease, attempts: Int, nextAttemptAt: Date, lastReason: String?) async throws {
        try await reschedules.submit(
            Rescheduling(lease: lease, attempts: attempts, nextAttemptAt: nextAttemptAt, lastReason: lastReason))
    }

    /// Rejected or expired: deletes the entry, if `lease` still holds it; `lease-lost`
    /// otherwise. The reason is the caller's to report (``DeliveryQueue`` emits it as an
    /// event); the row is gone.
    public func giveUp(_ lease: QueueLease, reason: String) async throws {
        try await deletions.submit(LeaseAction(lease: lease, operation: "giveUp"))
    }

    /// Delivered, many at once: deletes each entry its lease still holds, in one
    /// transaction (one flush), and returns the leases that no longer held theirs (those
    /// entries are unchanged), in the order given.
    public func complete(_ leases: [QueueLease]) async throws -> [QueueLease] {
        guard !leases.isEmpty else { return [] }
        return try await StatementRunner(client: client, schema: schema, timeout: configuration.operationTimeout)
            .deleteMany(leases)
    }

    /// Deferred again, many at once: stores each entry's new bookkeeping and releases its
    /// lease, for each entry its lease still holds, in one transaction (one flush); returns
    /// the leases that no longer held theirs (those entries are unchanged), in the order
    /// given.
    public func reschedule(_ items: [Rescheduling]) async throws -> [QueueLease] {
        guard !items.isEmpty else { return [] }
        return try await StatementRunner(client: client, schema: schema, timeout: configuration.operationTimeout)
            .rescheduleMany(items)
    }

    /// Deletes and returns the entries created before `cutoff` that no live lease holds.
    public func purge(createdBefore cutoff: Date, now: Date) async throws -> [QueueEntry] {
        try await fetchEntries("purge", sql: schema.purge, binds: try binds(cutoff, now))
    }

    /// Every stored entry, leased or not, earliest due first.
    public func list() async throws -> [QueueEntry] {
        try await fetchEntries("list", sql: schema.list, binds: PostgresBindings())
    }

    /// The earliest time an entry can be claimed or purged (see `QueueStore`), from the
    /// `_due`, `_created` and `_leased` indexes; `nil` when the table is empty.
    public func nextDueDate(maxAge: Duration) async throws -> Date? {
        let sql = schema.nextDueDate
        let client = self.client
        // Whole centuries are beyond any schedule and beyond what an interval holds.
        let seconds = min(Double(maxAge.components.seconds), 3e9)
        return try await perform("nextDueDate") {
            var earliest: Date?
            let rows = try await client.query(PostgresQuery(unsafeSQL: sql, binds: try binds(seconds)))
            for try await date in rows.decode(Date?.self) { earliest = date }
            return earliest
        }
    }

    /// Makes every entry due later, that no live lease holds, due at `now` (an operator's
    /// "retry everything now": `queue run --all`); returns how many changed.
    public func makeDue(now: Date) async throws -> Int {
        let sql = schema.makeDue + " RETURNING 1"
        let client = self.client
        let changed = try await perform("makeDue") {
            try await client.query(PostgresQuery(unsafeSQL: sql, binds: try binds(now))).count()
        }
        if changed > 0 { await wakeUps.signal { await self.sendWakeUp() } }
        return changed
    }

    // MARK: Notifications

    /// Yields when an entry was enqueued (by any server: `LISTEN` on the table's channel),
    /// once more after each reconnection (a notification may have been missed meanwhile),
    /// and every ``Configuration/pollInterval`` in any case.
    ///
    /// While the stream is consumed it holds one connection of the client's pool (a
    /// listening connection cannot be shared); it gives it back when the consumer stops.
    /// Wake-ups are coalesced: a burst of enqueues sends a few `NOTIFY`s, not one each, because
    /// PostgreSQL serialises the commits of notifying transactions.
    public func dueNotifications() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let listener = NotificationListener(
            client: client, channel: schema.table, pollInterval: configuration.pollInterval,
            logger: configuration.logger)
        let task = Task { await listener.run(yielding: continuation) }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// The claim statement, for tests that `EXPLAIN` it.
    /// The claim function's query ($1 now, $2 limit, $3 lease expiry), for tests that
    /// `EXPLAIN` it.
    package var claimStatementForInspection: String { schema.claimQuery }

    /// The statements of the migration step from `version` to `version + 1`, for tests that
    /// build a table of an older version.
    package func migrationStatements(from version: Int) -> [String] { QueueTableSchema.migrations[version](schema) }

    /// The batch complete and reschedule statements ($1 ids, $2 tokens, then the
    /// reschedule's $3 attempts, $4 next attempts, $5 reasons, $6 reason flags), for tests
    /// that `EXPLAIN` them.
    package var settleStatementsForInspection: [String] { [schema.deleteManyLeased, schema.rescheduleMany] }

    // MARK: Helpers

    private func insert(_ entry: QueueEntry, lease: QueueLease?, operation: String) async throws {
        var bindings = PostgresBindings(capacity: 13)
        StatementRunner.appendColumns(of: entry, to: &bindings)
        bindings.append(lease?.token)
        bindings.append(lease?.expiresAt)
        let query = PostgresQuery(unsafeSQL: schema.insert, binds: bindings)
        let client = self.client
        try await perform(operation) {
            try await client.query(query).drain()
        }
    }

    /// Runs one `… WHERE id = $1 AND lease_token = $2 RETURNING 1` statement; no row means
    /// the lease no longer holds the entry.
    private func actOnLease(
        _ lease: QueueLease, _ operation: String, sql: String, extra: (any PostgresDynamicTypeEncodable)?...
    ) async throws {
        var bindings = PostgresBindings()
        bindings.append(lease.entryID)
        bindings.append(lease.token)
        for value in extra {
            if let value { bindings.append(value) } else { bindings.appendNull() }
        }
        let query = PostgresQuery(unsafeSQL: sql + " RETURNING 1", binds: bindings)
        let client = self.client
        let changed = try await perform(operation) {
            try await client.query(query).count()
        }
        guard changed > 0 else { throw StatementRunner.leaseLost(lease, operation) }
    }

    private func fetchEntries(_ operation: String, sql: String, binds: PostgresBindings) async throws -> [QueueEntry] {
        let client = self.client
        return try await perform(operation) {
            let rows = try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds))
            var entries: [QueueEntry] = []
            for try await row in rows { entries.append(try StoredRow.decode(row).entry) }
            return entries
        }
    }

    private func sendWakeUp() async {
        let client = self.client
        let channel = schema.table
        // Best effort: a lost wake-up costs a listener one poll interval, nothing more.
        _ = try? await perform("notify") {
            try await client.query("SELECT pg_notify(\(channel), '')").drain()
        }
    }

    /// Runs `body` within the operation timeout and translates what it throws.
    func perform<Result: Sendable>(
        _ operation: String, _ body: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        try await StatementRunner(client: client, schema: schema, timeout: configuration.operationTimeout)
            .perform(operation, body)
    }

    /// Each request's result from a batch whose statement answered with the leases it
    /// fenced off (`lost`), or failed as a whole.
    private static func answer(
        _ requests: [(lease: QueueLease, operation: String)], _ run: () async throws -> [QueueLease]
    ) async -> [Result<Void, any Error>] {
        do {
            let lost = Set(try await run())
            return requests.map { request in
                lost.contains(request.lease)
                    ? .failure(StatementRunner.leaseLost(request.lease, request.operation)) : .success(())
            }
        } catch {
            return requests.map { _ in .failure(error) }
        }
    }
}

/// Binds `values` in order, for statements with positional parameters.
func binds(_ values: any PostgresThrowingDynamicTypeEncodable...) throws -> PostgresBindings {
    var bindings = PostgresBindings(capacity: values.count)
    for value in values { try bindings.append(value) }
    return bindings
}

extension PostgresRowSequence {
    /// Reads and drops every row (the statement's effect is what counts).
    func drain() async throws {
        for try await _ in self {}
    }

    /// The number of rows.
    func count() async throws -> Int {
        var count = 0
        for try await _ in self { count += 1 }
        return count
    }
}

extension Date {
    /// `self` plus `duration` (a negative duration counts as zero).
    func adding(_ duration: Duration) -> Date {
        let (seconds, attoseconds) = duration.components
        return addingTimeInterval(max(Double(seconds) + Double(attoseconds) / 1e18, 0))
    }
}
