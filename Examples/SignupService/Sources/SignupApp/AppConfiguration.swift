import Foundation
import Logging

/// The service's settings, from the environment (`SIGNUP_*`), with defaults for a local run.
public struct AppConfiguration: Sendable {
    /// The address to listen on (`SIGNUP_HOST`, default `127.0.0.1`).
    public var host = "127.0.0.1"
    /// The port to listen on (`SIGNUP_PORT`, default 8080; 0 picks a free one).
    public var port = 8080
    /// The SQLite file of the sign-ups (`SIGNUP_DATABASE`, default `signups.sqlite`).
    public var databasePath = "signups.sqlite"
    /// A PostgreSQL server for the sign-ups and the mail queue instead of the SQLite file
    /// and the journal (`DATABASE_URL`, `postgresql://USER:PASSWORD@HOST:PORT/DATABASE`;
    /// `?sslmode=require` and the like as libpq). Several instances may share it.
    public var databaseURL: String?
    /// Prepended to the PostgreSQL tables' names, `signups` and `directsmtp_queue`
    /// (`SIGNUP_TABLE_PREFIX`, default none).
    public var tablePrefix = ""
    /// The mailer: HELO name (`SIGNUP_HELO_NAME`), sender (`SIGNUP_SENDER`), queue journal
    /// (`SIGNUP_QUEUE_JOURNAL`), DNS servers (`SIGNUP_DNS_SERVERS`, comma-separated
    /// `IP[:PORT]`), SMTP port (`SIGNUP_SMTP_PORT`), the period in seconds within which a
    /// sign-up must be verified, which is also the queue's maximum age
    /// (`SIGNUP_MAX_AGE_SECONDS`), the first retry (`SIGNUP_FIRST_RETRY_SECONDS`), and
    /// `SIGNUP_ALLOW_NON_PUBLIC=1` for mock servers on loopback; a DKIM key
    /// (`SIGNUP_DKIM_KEY`, a PEM file) with its selector (`SIGNUP_DKIM_SELECTOR`) and,
    /// optionally, the signing domain (`SIGNUP_DKIM_DOMAIN`, default the sender's).
    public var mailer: MailerSettings
    /// How often pending sign-ups past the period are looked for.
    public var purgeInterval: Duration = .seconds(60)
    /// The sign-up rules (tries, resends).
    public var rules = SignupFlow.Rules()
    /// The log level (`LOG_LEVEL`: trace, debug, info, notice, warning, error, critical).
    public var logLevel: Logger.Level = .info

    /// Defaults: HELO name `localhost`, files in the working directory.
    public init(mailer: MailerSettings) {
        self.mailer = mailer
    }

    /// Reads the settings from `environment`.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> AppConfiguration {
        let helo = environment["SIGNUP_HELO_NAME"] ?? ProcessInfo.processInfo.hostName
        var mailer = MailerSettings(
            heloName: helo, sender: environment["SIGNUP_SENDER"] ?? "noreply@\(helo)",
            journalPath: environment["SIGNUP_QUEUE_JOURNAL"] ?? "signup-mail.journal")
        if let servers = environment["SIGNUP_DNS_SERVERS"], !servers.isEmpty {
            mailer.nameservers = servers.split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces)
            }
        }
        if let port = try integer("SIGNUP_SMTP_PORT", environment) { mailer.smtpPort = port }
        if let age = try integer("SIGNUP_MAX_AGE_SECONDS", environment) {
            mailer.maxAge = .seconds(age)
        }
        if let first = try integer("SIGNUP_FIRST_RETRY_SECONDS", environment) {
            mailer.firstRetry = .seconds(first)
        }
        if environment["SIGNUP_ALLOW_NON_PUBLIC"] == "1" { mailer.refusesNonPublicAddresses = false }
        switch (environment["SIGNUP_DKIM_KEY"], environment["SIGNUP_DKIM_SELECTOR"]) {
        case (let key?, let selector?): mailer.dkim = (key, selector)
        case (nil, nil): break
        default:
            throw ConfigurationError(
                message: "SIGNUP_DKIM_KEY and SIGNUP_DKIM_SELECTOR go together")
        }
        mailer.dkimDomain = environment["SIGNUP_DKIM_DOMAIN"]
        var configuration = AppConfiguration(mailer: mailer)
        if let host = environment["SIGNUP_HOST"] { configuration.host = host }
        if let port = try integer("SIGNUP_PORT", environment) { configuration.port = port }
        if let path = environment["SIGNUP_DATABASE"] { configuration.databasePath = path }
        if let url = environment["DATABASE_URL"], !url.isEmpty {
            guard url.hasPrefix("postgresql://") || url.hasPrefix("postgres://") else {
                throw ConfigurationError(
                    message: "DATABASE_URL must be a postgresql:// URL (unset it for SQLite)")
            }
            configuration.databaseURL = url
        }
        if let prefix = environment["SIGNUP_TABLE_PREFIX"] { configuration.tablePrefix = prefix }
        configuration.logLevel = logLevel(environment)
        return configuration
    }

    /// `LOG_LEVEL`, or `info`.
    public static func logLevel(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Logger.Level {
        environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
    }

    private static func integer(_ name: String, _ environment: [String: String]) throws -> Int? {
        guard let text = environment[name] else { return nil }
        guard let value = Int(text), value >= 0 else {
            throw ConfigurationError(message: "\(name) must be a whole number ≥ 0, not “\(text)”")
        }
        return value
    }
}

/// A setting that cannot be used.
public struct ConfigurationError: Error, CustomStringConvertible {
    /// What is wrong.
    public var message: String
    public var description: String { message }
}
