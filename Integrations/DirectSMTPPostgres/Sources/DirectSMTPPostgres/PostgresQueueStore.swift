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
/// (fencing). Each call is one statement in its own transaction: durable once it returns
/// (with PostgreSQL's default `synchronous_commit = on`).
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

        /// A configuration for `table` (by default `directsmtp_queue`).
        public init(
            table: String = "directsmtp_queue", operationTimeout: Duration = .seconds(10),
            pollInterval: Duration = .seconds(15),
            logger: Logger = Logger(label: "directsmtp.postgres")
        ) {
            self.table = table
            self.operationTimeout = operationTimeout
            self.pollInterval = pollInterval
            self.logger = logger
        }
    }

    /// The client (pool) every call runs on.
    public let client: PostgresClient
    /// The configuration the store was made with.
    public let configuration: Configuration
    let schema: QueueTableSchema
    private let wakeUps = WakeUpCoalescer()

    /// A store on `client`'s database. Does no I/O: call ``migrate()`` before using it.
    ///
    /// - Throws: `invalid-configuration` for a table name that is not a plain identifier.
    public init(client: PostgresClient, configuration: Configuration = Configuration()) throws(QueueStoreError) {
        self.client = client
        self.configuration = configuration
        self.schema = try QueueTableSchema(table: configuration.table)
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
    public func enqueue(_ entry: QueueEntry) async throws {
        try await insert(entry, lease: nil, operation: "enqueue")
        await wakeUps.signal { await self.sendWakeUp() }
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
        let client = self.client
        let claimed = try await perform("claimDue") {
            let rows = try await client.query(
                PostgresQuery(unsafeSQL: sql, binds: try binds(now, Int64(limit), expiresAt)))
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
    public func complete(_ lease: QueueLease) async throws {
        try await actOnLease(lease, "complete", sql: schema.deleteLeased)
    }

    /// Deferred again: stores the new bookkeeping and releases the lease, if `lease` still
    /// holds the entry; `lease-lost` otherwise.
    public func reschedule(_ lease: QueueLease, attempts: Int, nextAttemptAt: Date, lastReason: String?) async throws {
        try await actOnLease(
            lease, "reschedule", sql: schema.reschedule, extra: Int32(clamping: attempts), nextAttemptAt, lastReason)
    }

    /// Rejected or expired: deletes the entry, if `lease` still holds it; `lease-lost`
    /// otherwise. The reason is the caller's to report (``DeliveryQueue`` emits it as an
    /// event); the row is gone.
    public func giveUp(_ lease: QueueLease, reason: String) async throws {
        try await actOnLease(lease, "giveUp", sql: schema.deleteLeased)
    }

    /// Deletes and returns the entries created before `cutoff` that no live lease holds.
    public func purge(createdBefore cutoff: Date, now: Date) async throws -> [QueueEntry] {
        try await fetchEntries("purge", sql: schema.purge, binds: try binds(cutoff, now))
    }

    /// Every stored entry, leased or not, earliest due first.
    public func list() async throws -> [QueueEntry] {
        try await fetchEntries("list", sql: schema.list, binds: PostgresBindings())
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
    package var claimStatementForInspection: String { schema.claim }

    // MARK: Helpers

    private func insert(_ entry: QueueEntry, lease: QueueLease?, operation: String) async throws {
        var data = ByteBuffer()
        data.writeBytes(entry.data)
        var bindings = PostgresBindings(capacity: 13)
        bindings.append(entry.id)
        bindings.append(entry.from)
        bindings.append(entry.to)
        bindings.append(entry.messageID)
        bindings.append(data)
        bindings.append(entry.requires8BitMIME)
        bindings.append(entry.requiresSMTPUTF8)
        bindings.append(entry.createdAt)
        bindings.append(entry.nextAttemptAt)
        bindings.append(Int32(clamping: entry.attempts))
        bindings.append(entry.lastReason)
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
        guard changed > 0 else {
            throw QueueStoreError(
                .leaseLost,
                "\(operation): the lease on entry \(lease.entryID) no longer holds it (it expired and another worker claimed the entry, or the entry is gone); nothing was changed"
            )
        }
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
        let timeout = configuration.operationTimeout
        let context = "\(operation) on table \(schema.table)"
        do {
            return try await withThrowingTaskGroup(of: Result?.self) { group in
                group.addTask { try await body() }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let result = first else {
                    throw QueueStoreError(
                        .databaseUnavailable,
                        "\(context): the database did not answer within \(timeout) (unreachable, refusing connections or credentials, or overloaded)"
                    )
                }
                return result
            }
        } catch {
            throw PostgresErrorTranslation.storeError(error, context: context)
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
