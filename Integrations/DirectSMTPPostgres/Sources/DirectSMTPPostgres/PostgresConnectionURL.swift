import DirectSMTP
import Foundation
import PostgresNIO

/// Reads a `postgresql://` URL (the libpq form) into PostgresNIO configurations, so a command
/// line or an environment variable can name the queue's database:
///
/// ```
/// postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require|verify-full]
/// ```
///
/// `postgres://` is accepted too; user and password may be percent-encoded; the port
/// defaults to 5432, `sslmode` to `prefer` (TLS when the server offers it, as libpq does;
/// `require` does not check the certificate, `verify-full` does). Errors never repeat the
/// password.
public struct PostgresConnectionURL: Sendable, Hashable, CustomStringConvertible {
    /// How the connection uses TLS.
    public enum TLSMode: String, Sendable, Hashable {
        /// Plain text only.
        case disable
        /// TLS when the server offers it, without checking its certificate.
        case prefer
        /// TLS always, without checking the certificate.
        case require
        /// TLS always, with the certificate checked against the system's roots and the host name.
        case verifyFull = "verify-full"
    }

    /// The server's host name or address (without brackets for IPv6).
    public var host: String
    /// The server's port.
    public var port: Int
    /// The user name.
    public var username: String
    /// The password, if the URL has one.
    public var password: String?
    /// The database's name.
    public var database: String
    /// The TLS mode.
    public var tls: TLSMode

    /// Parses `url`.
    ///
    /// - Throws: `invalid-configuration` naming what is wrong (never the password).
    public init(_ url: String) throws(QueueStoreError) {
        func invalid(_ why: String) -> QueueStoreError {
            QueueStoreError(.invalidConfiguration, "not a usable postgresql:// URL: \(why)")
        }
        guard let components = URLComponents(string: url) else { throw invalid("it cannot be parsed") }
        guard let scheme = components.scheme?.lowercased(), scheme == "postgresql" || scheme == "postgres" else {
            throw invalid("the scheme must be postgresql:// or postgres://")
        }
        guard let host = components.host, !host.isEmpty else { throw invalid("it names no host") }
        guard let username = components.user?.removingPercentEncoding, !username.isEmpty else {
            throw invalid("it names no user (postgresql://USER@HOST/DATABASE)")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw invalid("it names no database (postgresql://USER@HOST/DATABASE)")
        }
        var tls = TLSMode.prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let mode = TLSMode(rawValue: value) else {
                    throw invalid("sslmode must be disable, prefer, require or verify-full")
                }
                tls = mode
            default:
                throw invalid("unknown parameter \(item.name) (only sslmode is understood)")
            }
        }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw invalid("the port must be 1 to 65535") }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = port
        self.username = username
        self.password = components.password?.removingPercentEncoding
        self.database = database.removingPercentEncoding ?? database
        self.tls = tls
    }

    /// The URL with the password replaced by `***`, for logs and messages.
    public var description: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "postgresql://\(username)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)?sslmode=\(tls.rawValue)"
    }

    /// A `PostgresClient` configuration for this URL.
    public func clientConfiguration() throws(QueueStoreError) -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch self.tls {
            case .disable: .disable
            case .prefer: .prefer(Self.unverified)
            case .require: .require(Self.unverified)
            case .verifyFull: .require(.makeClientConfiguration())
            }
        return PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
    }

    /// A single-connection configuration for this URL.
    public func connectionConfiguration() throws(QueueStoreError) -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch self.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: Self.unverified))
            case .require: tls = .require(try NIOSSLContext(configuration: Self.unverified))
            case .verifyFull: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        } catch {
            throw QueueStoreError(.invalidConfiguration, "TLS could not be set up: \(error)")
        }
        return PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
    }

    /// TLS without certificate checks, as libpq's `prefer` and `require`.
    private static var unverified: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        return configuration
    }

    /// Opens one connection straight to the server (not through a pool, which would retry and
    /// hide the reason), runs `SELECT 1` and closes it: the quick way to tell, at start-up,
    /// a wrong host or port from a wrong password or database.
    ///
    /// - Throws: `database-unavailable` (unreachable, refused, no such database, no answer
    ///   within `timeout`) or `authentication-failed`, with the server's reason.
    public func checkConnection(timeout: Duration = .seconds(10)) async throws {
        let configuration = try connectionConfiguration()
        let target = description
        let logger = Logger(label: "directsmtp.postgres.check")
        do {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    let connection = try await PostgresConnection.connect(
                        configuration: configuration, id: 1, logger: logger)
                    do {
                        try await connection.query("SELECT 1", logger: logger).drain()
                    } catch {
                        try? await connection.close()
                        throw error
                    }
                    try? await connection.close()
                    return true
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return false
                }
                defer { group.cancelAll() }
                guard try await group.next() == true else {
                    throw QueueStoreError(.databaseUnavailable, "\(target) did not answer within \(timeout)")
                }
            }
        } catch {
            throw PostgresErrorTranslation.storeError(error, context: "connecting to \(target)")
        }
    }
}
