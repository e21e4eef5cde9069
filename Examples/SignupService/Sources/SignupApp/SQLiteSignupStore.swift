import Foundation
import Logging
import NIOCore
import SQLiteNIO

/// Pending and verified sign-ups in an SQLite file. SQLite runs on NIO's thread pool
/// (sqlite-nio), never on a thread of the cooperative pool. One connection, so statements
/// run one after another; each change is one statement, hence atomic.
public actor SQLiteSignupStore: SignupStore {
    private let connection: SQLiteConnection
    private var closed = false

    private init(connection: SQLiteConnection) {
        self.connection = connection
    }

    /// Opens (or creates) the database at `path`; `":memory:"` for a throwaway one.
    public static func open(path: String, logger: Logger) async throws -> SQLiteSignupStore {
        let storage: SQLiteConnection.Storage = path == ":memory:" ? .memory : .file(path: path)
        let connection = try await SQLiteConnection.open(storage: storage, logger: logger)
        let store = SQLiteSignupStore(connection: connection)
        try await store.migrate()
        return store
    }

    private func migrate() async throws {
        // WAL: readers do not wait for the writer; FULL sync: a page's promise survives a crash.
        _ = try await connection.query("PRAGMA journal_mode = WAL")
        _ = try await connection.query("PRAGMA synchronous = FULL")
        _ = try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS signups (
                id TEXT PRIMARY KEY,
                email TEXT NOT NULL,
                code_salt BLOB NOT NULL,
                code_hash BLOB NOT NULL,
                created_at REAL NOT NULL,
                last_sent_at REAL NOT NULL,
                sends INTEGER NOT NULL,
                failed_tries INTEGER NOT NULL,
                message_id TEXT NOT NULL,
                verified_at REAL
            )
            """)
        _ = try await connection.query(
            "CREATE INDEX IF NOT EXISTS signups_message_id ON signups (message_id)")
        _ = try await connection.query(
            "CREATE INDEX IF NOT EXISTS signups_email ON signups (email, created_at)")
    }

    /// Closes the database; later calls fail.
    public func close() async {
        guard !closed else { return }
        closed = true
        try? await connection.close()
    }

    /// Stores a new sign-up.
    public func insert(_ signup: PendingSignup) async throws {
        _ = try await connection.query(
            """
            INSERT INTO signups (id, email, code_salt, code_hash, created_at, last_sent_at,
                                 sends, failed_tries, message_id, verified_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .text(signup.id), .text(signup.email), .blob(ByteBuffer(bytes: signup.codeSalt)),
                .blob(ByteBuffer(bytes: signup.codeHash)),
                .float(signup.createdAt.timeIntervalSince1970),
                .float(signup.lastSentAt.timeIntervalSince1970), .integer(signup.sends),
                .integer(signup.failedTries), .text(signup.messageID),
                signup.verifiedAt.map { .float($0.timeIntervalSince1970) } ?? .null,
            ])
    }

    /// The sign-up with `id`, if any.
    public func signup(id: String) async throws -> PendingSignup? {
        try await connection.query("SELECT * FROM signups WHERE id = ?", [.text(id)])
            .first.flatMap(Self.signup(from:))
    }

    /// How many pending sign-ups for `email` were made since `date`.
    public func pendingCount(email: String, since date: Date) async throws -> Int {
        try await connection.query(
            """
            SELECT COUNT(*) AS n FROM signups
            WHERE email = ? AND created_at >= ? AND verified_at IS NULL
            """,
            [.text(email), .float(date.timeIntervalSince1970)]
        ).first?.column("n")?.integer ?? 0
    }

    /// Every stored sign-up (for tests and operators).
    public func all() async throws -> [PendingSignup] {
        try await connection.query("SELECT * FROM signups ORDER BY created_at", [])
            .compactMap(Self.signup(from:))
    }

    /// Takes one of the code's `limit` tries, before the code is compared (so concurrent
    /// guesses cannot exceed the limit); `nil` when none is left or the sign-up is gone.
    public func takeTry(id: String, limit: Int) async throws -> Int? {
        let rows = try await connection.query(
            """
            UPDATE signups SET failed_tries = failed_tries + 1
            WHERE id = ? AND verified_at IS NULL AND failed_tries < ? RETURNING failed_tries
            """,
            [.text(id), .integer(limit)])
        return rows.first?.column("failed_tries")?.integer
    }

    /// Marks a pending sign-up verified and forgets its code; `false` when it was not
    /// pending any more (verified by a concurrent request, or removed).
    public func markVerified(id: String, at date: Date) async throws -> Bool {
        let rows = try await connection.query(
            """
            UPDATE signups SET verified_at = ?, code_hash = X'', code_salt = X''
            WHERE id = ? AND verified_at IS NULL RETURNING id
            """,
            [.float(date.timeIntervalSince1970), .text(id)])
        return !rows.isEmpty
    }

    /// Replaces a pending sign-up's code and Message-ID (a resend).
    public func replaceCode(
        id: String, salt: [UInt8], hash: [UInt8], messageID: String, sentAt: Date
    ) async throws {
        _ = try await connection.query(
            """
            UPDATE signups SET code_salt = ?, code_hash = ?, message_id = ?, last_sent_at = ?,
                sends = sends + 1, failed_tries = 0
            WHERE id = ? AND verified_at IS NULL
            """,
            [
                .blob(ByteBuffer(bytes: salt)), .blob(ByteBuffer(bytes: hash)), .text(messageID),
                .float(sentAt.timeIntervalSince1970), .text(id),
            ])
    }

    /// Removes a pending sign-up (a verified one stays).
    @discardableResult
    public func removePending(id: String) async throws -> Bool {
        let rows = try await connection.query(
            "DELETE FROM signups WHERE id = ? AND verified_at IS NULL RETURNING id", [.text(id)])
        return !rows.isEmpty
    }

    /// Removes the pending sign-up whose last email has `messageID`; returns it.
    public func removePending(messageID: String) async throws -> PendingSignup? {
        try await connection.query(
            "DELETE FROM signups WHERE message_id = ? AND verified_at IS NULL RETURNING *",
            [.text(messageID)]
        ).first.flatMap(Self.signup(from:))
    }

    /// Removes the pending sign-ups created before `cutoff`; returns them.
    public func removePending(createdBefore cutoff: Date) async throws -> [PendingSignup] {
        try await connection.query(
            "DELETE FROM signups WHERE created_at < ? AND verified_at IS NULL RETURNING *",
            [.float(cutoff.timeIntervalSince1970)]
        ).compactMap(Self.signup(from:))
    }

    private static func signup(from row: SQLiteRow) -> PendingSignup? {
        guard let id = row.column("id")?.string, let email = row.column("email")?.string,
            let created = row.column("created_at")?.double,
            let lastSent = row.column("last_sent_at")?.double,
            let messageID = row.column("message_id")?.string
        else { return nil }
        return PendingSignup(
            id: id, email: email, codeSalt: bytes(row.column("code_salt")),
            codeHash: bytes(row.column("code_hash")),
            createdAt: Date(timeIntervalSince1970: created),
            lastSentAt: Date(timeIntervalSince1970: lastSent),
            sends: row.column("sends")?.integer ?? 0,
            failedTries: row.column("failed_tries")?.integer ?? 0, messageID: messageID,
            verifiedAt: row.column("verified_at")?.double.map(Date.init(timeIntervalSince1970:)))
    }

    private static func bytes(_ data: SQLiteData?) -> [UInt8] {
        guard case .blob(let buffer)? = data else { return [] }
        return Array(buffer.readableBytesView)
    }
}
