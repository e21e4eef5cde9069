import DirectSMTP
import DirectSMTPPostgres
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Pending and verified sign-ups in a PostgreSQL table, with the mail queue
/// (``queueStore``, DirectSMTPPostgres's `PostgresQueueStore`) in another table of the same
/// database on the same client: several instances of the service can share both. Each
/// change is one statement (its own transaction), durable when the call returns; each call
/// waits at most ``operationTimeout`` for the database.
///
/// The store runs its client (`PostgresClient.run()`) from ``open(url:tablePrefix:logger:)``
/// until ``close()``, which the service calls after the mail queue has drained.
public final class PostgresSignupStore: SignupStore {
    /// The longest a call waits for the database.
    public static let operationTimeout: Duration = .seconds(10)

    /// The delivery queue's store, over the same client (the caller must not close it).
    public let queueStore: PostgresQueueStore
    /// The sign-ups' table.
    public let table: String
    private let client: PostgresClient
    private let logger: Logger
    private let running: Task<Void, Never>

    private init(
        client: PostgresClient, running: Task<Void, Never>, queueStore: PostgresQueueStore,
        table: String, logger: Logger
    ) {
        self.client = client
        self.running = running
        self.queueStore = queueStore
        self.table = table
        self.logger = logger
    }

    /// Connects to the server at `url` (`postgresql://USER:PASSWORD@HOST:PORT/DATABASE`),
    /// creates or migrates the tables `PREFIXsignups` and `PREFIXdirectsmtp_queue`, and
    /// starts the client.
    ///
    /// - Throws: ``ConfigurationError`` for a prefix that is not lower-case letters, digits
    ///   and `_`; the integration's `QueueStoreError` (`invalid-configuration`,
    ///   `database-unavailable`, `authentication-failed`) for a URL or server that cannot
    ///   be used, with the reason, never the password.
    public static func open(url: String, tablePrefix: String = "", logger: Logger) async throws
        -> PostgresSignupStore
    {
        guard tablePrefix.count <= 32,
            tablePrefix.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") })
        else {
            throw ConfigurationError(
                message: "SIGNUP_TABLE_PREFIX must be lower-case letters, digits and _ (at most 32)")
        }
        let connection = try PostgresConnectionURL(url)
        // One direct connection first: a wrong host and a wrong password say so at once.
        try await connection.checkConnection()
        let client = PostgresClient(
            configuration: try connection.clientConfiguration(), backgroundLogger: logger)
        let running = Task { await client.run() }
        do {
            let queueStore = try PostgresQueueStore(
                client: client,
                configuration: .init(
                    table: "\(tablePrefix)directsmtp_queue", operationTimeout: operationTimeout,
                    logger: logger))
            try await queueStore.migrate()
            let store = PostgresSignupStore(
                client: client, running: running, queueStore: queueStore,
                table: "\(tablePrefix)signups", logger: logger)
            try await store.migrate()
            return store
        } catch {
            running.cancel()
            await running.value
            throw error
        }
    }

    private func migrate() async throws {
        try await execute(
            """
            CREATE TABLE IF NOT EXISTS \(unescaped: table) (
                id text PRIMARY KEY,
                email text NOT NULL,
                code_salt bytea NOT NULL,
                code_hash bytea NOT NULL,
                created_at timestamptz NOT NULL,
                last_sent_at timestamptz NOT NULL,
                sends bigint NOT NULL,
                failed_tries bigint NOT NULL,
                message_id text NOT NULL,
                verified_at timestamptz
            )
            """)
        try await execute(
            "CREATE INDEX IF NOT EXISTS \(unescaped: table)_message_id ON \(unescaped: table) (message_id)")
        try await execute(
            "CREATE INDEX IF NOT EXISTS \(unescaped: table)_email ON \(unescaped: table) (email, created_at)")
    }

    /// Stops the client: the sign-ups and the queue store fail from now on.
    public func close() async {
        running.cancel()
        await running.value
    }

    public func insert(_ signup: PendingSignup) async throws {
        try await execute(
            """
            INSERT INTO \(unescaped: table) (id, email, code_salt, code_hash, created_at,
                last_sent_at, sends, failed_tries, message_id, verified_at)
            VALUES (\(signup.id), \(signup.email), \(ByteBuffer(bytes: signup.codeSalt)),
                \(ByteBuffer(bytes: signup.codeHash)), \(signup.createdAt), \(signup.lastSentAt),
                \(signup.sends), \(signup.failedTries), \(signup.messageID), \(signup.verifiedAt))
            """)
    }

    public func signup(id: String) async throws -> PendingSignup? {
        try await signups("SELECT \(unescaped: Self.columns) FROM \(unescaped: table) WHERE id = \(id)")
            .first
    }

    public func pendingCount(email: String, since date: Date) async throws -> Int {
        let rows = try await rows(
            """
            SELECT COUNT(*) FROM \(unescaped: table)
            WHERE email = \(email) AND created_at >= \(date) AND verified_at IS NULL
            """)
        return try rows.first?.decode(Int.self) ?? 0
    }

    public func all() async throws -> [PendingSignup] {
        try await signups("SELECT \(unescaped: Self.columns) FROM \(unescaped: table) ORDER BY created_at")
    }

    public func takeTry(id: String, limit: Int) async throws -> Int? {
        try await rows(
            """
            UPDATE \(unescaped: table) SET failed_tries = failed_tries + 1
            WHERE id = \(id) AND verified_at IS NULL AND failed_tries < \(limit)
            RETURNING failed_tries
            """
        ).first?.decode(Int.self)
    }

    public func markVerified(id: String, at date: Date) async throws -> Bool {
        try await !rows(
            """
            UPDATE \(unescaped: table) SET verified_at = \(date), code_hash = '', code_salt = ''
            WHERE id = \(id) AND verified_at IS NULL RETURNING id
            """
        ).isEmpty
    }

    public func replaceCode(
        id: String, salt: [UInt8], hash: [UInt8], messageID: String, sentAt: Date
    ) async throws {
        try await execute(
            """
            UPDATE \(unescaped: table) SET code_salt = \(ByteBuffer(bytes: salt)),
                code_hash = \(ByteBuffer(bytes: hash)), message_id = \(messageID),
                last_sent_at = \(sentAt), sends = sends + 1, failed_tries = 0
            WHERE id = \(id) AND verified_at IS NULL
            """)
    }

    @discardableResult
    public func removePending(id: String) async throws -> Bool {
        try await !rows(
            "DELETE FROM \(unescaped: table) WHERE id = \(id) AND verified_at IS NULL RETURNING id"
        ).isEmpty
    }

    public func removePending(messageID: String) async throws -> PendingSignup? {
        try await signups(
            """
            DELETE FROM \(unescaped: table) WHERE message_id = \(messageID) AND verified_at IS NULL
            RETURNING \(unescaped: Self.columns)
            """
        ).first
    }

    public func removePending(createdBefore cutoff: Date) async throws -> [PendingSignup] {
        try await signups(
            """
            DELETE FROM \(unescaped: table) WHERE created_at < \(cutoff) AND verified_at IS NULL
            RETURNING \(unescaped: Self.columns)
            """)
    }

    /// The columns in the order ``signups(_:)`` decodes them.
    private static let columns =
        "id, email, code_salt, code_hash, created_at, last_sent_at, sends, failed_tries, message_id, verified_at"

    private func signups(_ query: PostgresQuery) async throws -> [PendingSignup] {
        try await rows(query).map { row in
            let (id, email, salt, hash, created, lastSent, sends, tries, messageID, verified) =
                try row.decode(
                    (String, String, ByteBuffer, ByteBuffer, Date, Date, Int, Int, String, Date?).self)
            return PendingSignup(
                id: id, email: email, codeSalt: Array(salt.readableBytesView),
                codeHash: Array(hash.readableBytesView), createdAt: created, lastSentAt: lastSent,
                sends: sends, failedTries: tries, messageID: messageID, verifiedAt: verified)
        }
    }

    private func execute(_ query: PostgresQuery) async throws {
        _ = try await rows(query)
    }

    /// Runs `query` and collects its rows, within ``operationTimeout``.
    private func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        let client = self.client
        let logger = self.logger
        return try await withThrowingTaskGroup(of: [PostgresRow]?.self) { group in
            group.addTask { try await client.query(query, logger: logger).collect() }
            group.addTask {
                try await Task.sleep(for: Self.operationTimeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let rows = first else {
                throw QueueStoreError(
                    .databaseUnavailable,
                    "the sign-up database did not answer within \(Self.operationTimeout)")
            }
            return rows
        }
    }
}
