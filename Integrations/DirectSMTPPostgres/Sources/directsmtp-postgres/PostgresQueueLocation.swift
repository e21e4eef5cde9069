import DirectSMTP
import DirectSMTPCommandLine
import DirectSMTPPostgres
import PostgresNIO

/// How `directsmtp-postgres` opens a `--queue postgresql://…` value: check the connection
/// (so a wrong password or host is said plainly, not hidden by the pool's retries), start a
/// small pool for the command, migrate the table (idempotent, under an advisory lock), and
/// shut the pool down when the command closes the store.
///
/// Failures keep `directsmtp`'s exit codes for queue files: a URL it cannot read is a usage
/// error (64); a table that is not this version's queue is not a queue (65, as a file that
/// is not a journal); a database that cannot be reached, refuses the credentials or fails
/// a statement is a queue that cannot be read or written (74).
enum PostgresQueueLocation {
    static func opener(table: String) -> QueueStoreOpener {
        QueueStoreOpener(
            help: "directsmtp-postgres: --queue also takes postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE "
                + "(table \(table); DIRECTSMTP_POSTGRES_TABLE names another)",
            exitCode: exitCode(for:),
            open: { location in try await open(location, table: table) })
    }

    static func isURL(_ location: String) -> Bool {
        let lowered = location.lowercased()
        return lowered.hasPrefix("postgresql://") || lowered.hasPrefix("postgres://")
    }

    static func open(_ location: String, table: String) async throws -> OpenedQueueStore? {
        guard isURL(location) else { return nil }
        let url = try PostgresConnectionURL(location)
        var configuration = try url.clientConfiguration()
        // One command at a time: a `queue run` settles a few entries at once.
        configuration.options.maximumConnections = 4
        let client = PostgresClient(configuration: configuration, backgroundLogger: quiet)
        // No I/O yet: a table name that is not a plain identifier fails here, before any.
        let store = try PostgresQueueStore(client: client, configuration: .init(table: table, logger: quiet))
        try await url.checkConnection()
        let running = Task { await client.run() }
        let close: @Sendable () async -> Void = {
            running.cancel()
            await running.value
        }
        do {
            try await store.migrate()
        } catch {
            await close()
            throw error
        }
        return OpenedQueueStore(store: store, close: close)
    }

    static func exitCode(for error: any Error) -> Int32? {
        guard let error = error as? QueueStoreError else { return nil }
        switch error.code {
        case .invalidConfiguration: return 64
        case .schemaMismatch, .schemaTooNew: return 65
        case .databaseUnavailable, .authenticationFailed, .databaseError: return 74
        default: return nil
        }
    }

    /// PostgresNIO's own logs stay out of the command's output (stdout may be JSON); every
    /// failure reaches the user as the store's error instead.
    static let quiet: Logger = {
        var logger = Logger(label: "directsmtp-postgres")
        logger.logLevel = .critical
        return logger
    }()
}
