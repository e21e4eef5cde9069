import DirectSMTP
import PostgresNIO

/// Turns what PostgresNIO throws into a ``QueueStoreError`` with a stable code and a sentence
/// that starts with what was being done (e.g. "enqueue on table directsmtp_queue").
/// PostgresNIO keeps server details out of its descriptions (they may hold data); the
/// SQLSTATE and the server's primary message are safe to show, and neither ever holds the
/// connection's password.
enum PostgresErrorTranslation {
    /// The store error for `error`, thrown while doing `context`.
    static func storeError(_ error: any Error, context: String) -> QueueStoreError {
        if let error = error as? QueueStoreError { return error }
        if let error = error as? PostgresTransactionError {
            // The first error of the transaction says what happened; a failed rollback only
            // follows from it.
            if let inner = error.closureError ?? error.beginError ?? error.commitError ?? error.rollbackError {
                return storeError(inner, context: context)
            }
        }
        if let error = error as? PSQLError {
            return translate(error, context: context)
        }
        if error is PostgresDecodingError {
            return QueueStoreError(
                .schemaMismatch, "\(context): a row could not be read as a queue entry (a column's type was changed?)")
        }
        if error is CancellationError {
            return QueueStoreError(.databaseUnavailable, "\(context): cancelled")
        }
        // The connection pool's own errors (no connection could be made in time, pool shut
        // down) are not PSQLErrors.
        return QueueStoreError(.databaseUnavailable, "\(context): no usable database connection (\(error))")
    }

    private static func translate(_ error: PSQLError, context: String) -> QueueStoreError {
        switch error.code {
        case .unsupportedAuthMechanism, .authMechanismRequiresPassword, .saslError:
            return QueueStoreError(.authenticationFailed, "\(context): authentication with the server failed (\(error.code))")
        default: break
        }
        guard error.code == .server, let state = error.serverInfo?[.sqlState] else {
            let underlying = error.underlying.map { " (\($0))" } ?? ""
            return QueueStoreError(.databaseUnavailable, "\(context): \(connectionProblem(error.code))\(underlying)")
        }
        let said = error.serverInfo?[.message] ?? "no message"
        switch state {
        case "23505":
            return QueueStoreError(.duplicateID, "\(context): an entry with this id is already stored")
        case "28P01", "28000":
            return QueueStoreError(.authenticationFailed, "\(context): the server refused the credentials: \(said)")
        case "42703", "42P01", "42804", "23502", "42883":
            return QueueStoreError(
                .schemaMismatch,
                "\(context): the table does not match the schema this store expects: \(said) (SQLSTATE \(state)); "
                    + "restore the table, or migrate a new one with PostgresQueueStore.migrate()")
        case "3D000":
            return QueueStoreError(.databaseUnavailable, "\(context): \(said)")
        default:
            if state.hasPrefix("08") || state.hasPrefix("57P") || state == "53300" {
                return QueueStoreError(.databaseUnavailable, "\(context): \(said) (SQLSTATE \(state))")
            }
            return QueueStoreError(.databaseError, "\(context) failed: \(said) (SQLSTATE \(state))")
        }
    }

    private static func connectionProblem(_ code: PSQLError.Code) -> String {
        switch code {
        case .connectionError: "could not connect to the database, or the connection failed"
        case .serverClosedConnection: "the server closed the connection"
        case .clientClosedConnection, .poolClosed: "the connection pool is closed"
        case .uncleanShutdown: "the connection ended uncleanly"
        case .sslUnsupported: "the server does not support TLS, which the configuration requires"
        default: "the connection failed (\(code))"
        }
    }
}
