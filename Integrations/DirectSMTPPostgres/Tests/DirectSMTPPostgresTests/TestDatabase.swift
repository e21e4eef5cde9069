import DirectSMTP
import DirectSMTPPostgres
import Foundation
import PostgresNIO
import Testing

/// The PostgreSQL server the tests use: the URL in `DIRECTSMTP_POSTGRES_URL`, as
/// `scripts/with-postgres.sh` exports it. Without it the tests that need a server are skipped.
enum TestDatabase {
    static let urlText = ProcessInfo.processInfo.environment["DIRECTSMTP_POSTGRES_URL"]
    static let isAvailable = urlText != nil
    static let skipNote: Comment =
        "no PostgreSQL server: run `scripts/with-postgres.sh swift test` (it starts a throwaway one and sets DIRECTSMTP_POSTGRES_URL)"

    /// The server's URL (the test is enabled only when there is one).
    static var url: PostgresConnectionURL {
        get throws { try PostgresConnectionURL(urlText ?? "") }
    }

    /// Runs `body` with a running client for `url` (the test server's by default), then shuts
    /// the client down.
    @discardableResult
    static func withClient<Result: Sendable>(
        url: PostgresConnectionURL? = nil, maximumConnections: Int = 20,
        _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        var configuration = try (url ?? self.url).clientConfiguration()
        configuration.options.maximumConnections = maximumConnections
        let client = PostgresClient(configuration: configuration, backgroundLogger: quietLogger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// A table name no other test uses.
    static func freshTable(_ prefix: String = "t") -> String {
        "\(prefix)_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16))"
    }

    /// A migrated store on a fresh table.
    static func freshStore(
        _ client: PostgresClient, prefix: String = "t", operationTimeout: Duration = .seconds(20),
        pollInterval: Duration = .seconds(15)
    ) async throws -> PostgresQueueStore {
        let store = try PostgresQueueStore(
            client: client,
            configuration: .init(
                table: freshTable(prefix), operationTimeout: operationTimeout, pollInterval: pollInterval,
                logger: quietLogger))
        try await store.migrate()
        return store
    }

    /// Runs `body` with a migrated store on a fresh table, then drops the table, whatever
    /// `body` did.
    @discardableResult
    static func withFreshStore<Result: Sendable>(
        _ client: PostgresClient, prefix: String = "t", operationTimeout: Duration = .seconds(20),
        pollInterval: Duration = .seconds(15), _ body: (PostgresQueueStore) async throws -> Result
    ) async throws -> Result {
        let store = try await freshStore(
            client, prefix: prefix, operationTimeout: operationTimeout, pollInterval: pollInterval)
        do {
            let result = try await body(store)
            await drop(store.table, on: client)
            return result
        } catch {
            await drop(store.table, on: client)
            throw error
        }
    }

    /// Drops a test's table (and its claim function, with `CASCADE`) and its version row.
    static func drop(_ table: String, on client: PostgresClient) async {
        _ = try? await client.query(PostgresQuery(unsafeSQL: "DROP TABLE IF EXISTS \"\(table)\" CASCADE"))
            .collect()
        _ = try? await client.query("DELETE FROM directsmtp_schema_versions WHERE table_name = \(table)").collect()
    }

    /// Runs one SQL statement (test set-up and inspection) and returns its rows.
    @discardableResult
    static func sql(_ text: String, on client: PostgresClient) async throws -> [PostgresRow] {
        try await client.query(PostgresQuery(unsafeSQL: text)).collect()
    }

    /// The number of rows of `table`.
    static func count(_ table: String, on client: PostgresClient) async throws -> Int {
        let rows = try await sql("SELECT count(*) FROM \"\(table)\"", on: client)
        return Int(try rows[0].decode(Int64.self))
    }

    static let quietLogger: Logger = {
        var logger = Logger(label: "directsmtp.postgres.tests")
        logger.logLevel = .critical
        return logger
    }()
}

/// Fails the test unless `body` throws a `QueueStoreError` with `code`; returns it.
@discardableResult
func expectStoreError(
    _ code: QueueStoreError.Code, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async -> QueueStoreError? {
    do {
        try await body()
        Issue.record("expected a QueueStoreError \(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as QueueStoreError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected a QueueStoreError \(code), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
