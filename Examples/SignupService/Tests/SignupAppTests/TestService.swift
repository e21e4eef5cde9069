import DirectSMTP
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Metrics
import NIOCore
import SignupApp
import SignupMockWorld
import Testing

/// One test's world: mock servers, a manual clock (of the sign-ups and the queue), a temporary directory for the SQLite
/// file and the journal, and a way to build (and rebuild) the service over them.
final class TestService: Sendable {
    let world: MockWorld
    /// The sign-ups' and the queue's clock: tests move it, nothing waits for real.
    let clock = ManualQueueClock(now: Date(timeIntervalSince1970: 1_800_000_000))
    let directory: String
    /// The queue's schedule.
    let firstRetry: Duration
    let maxAge: Duration

    let storage: TestStorage
    /// This test's tables in the shared PostgreSQL database (tests run in parallel).
    let tablePrefix = "t\(UUID().uuidString.prefix(8).lowercased())_"

    /// A DKIM key file the mailer signs with, with its selector.
    let dkim: (keyPath: String, selector: String)?

    init(
        storage: TestStorage = .sqlite, firstRetry: Duration = .seconds(60),
        maxAge: Duration = .seconds(3600), dkimKeyPEM: String? = nil
    ) throws {
        self.storage = storage
        self.firstRetry = firstRetry
        self.maxAge = maxAge
        world = try MockWorld.start()
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("signup-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true)
        if let dkimKeyPEM {
            try dkimKeyPEM.write(toFile: "\(directory)/dkim.pem", atomically: true, encoding: .utf8)
            dkim = ("\(directory)/dkim.pem", "signup2026")
        } else {
            dkim = nil
        }
    }

    deinit {
        world.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    var configuration: AppConfiguration {
        var configuration = AppConfiguration(
            mailer: world.mailerSettings(journalPath: "\(directory)/mail.journal"))
        configuration.mailer.firstRetry = firstRetry
        configuration.mailer.maxAge = maxAge
        configuration.mailer.dkim = dkim
        configuration.databasePath = "\(directory)/signups.sqlite"
        if case .postgres(let url) = storage {
            configuration.databaseURL = url
            configuration.tablePrefix = tablePrefix
        }
        configuration.port = 0
        return configuration
    }

    /// Builds a service instance over the same files and runs `body` against it, its
    /// services (the mail queue) running; shuts it down (drained, files closed) after.
    func run<T: Sendable>(
        logger: Logger? = nil, metrics: (any MetricsFactory)? = nil,
        _ body: @Sendable (SignupApplication, any TestClientProtocol) async throws -> T
    ) async throws -> T {
        var quiet = Logger(label: "signup-test")
        quiet.logLevel = .warning
        let app = try await SignupApplication.build(
            configuration: configuration, clock: clock, logger: logger ?? quiet,
            metrics: metrics ?? NOOPMetricsHandler.instance)
        return try await app.application.test(.router) { client in
            try await body(app, client)
        }
    }
}

/// Where a test's sign-ups and queue live: SQLite and the journal always; PostgreSQL too
/// when `DIRECTSMTP_POSTGRES_URL` names a server (`scripts/ci.sh` starts a throwaway one
/// with the integration's `with-postgres.sh`).
enum TestStorage: Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres(url: String)

    static var available: [TestStorage] {
        let url = ProcessInfo.processInfo.environment["DIRECTSMTP_POSTGRES_URL"] ?? ""
        return url.isEmpty ? [.sqlite] : [.sqlite, .postgres(url: url)]
    }

    var testDescription: String {
        switch self {
        case .sqlite: "SQLite"
        case .postgres: "PostgreSQL"
        }
    }
}

extension TestClientProtocol {
    /// Posts a form and returns the status and the page.
    func postForm(_ path: String, _ fields: [String: String]) async throws -> (HTTPResponse.Status, String) {
        let body = fields.map { key, value in
            "\(key)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
        }.joined(separator: "&")
        var headers = HTTPFields()
        headers[.contentType] = "application/x-www-form-urlencoded"
        return try await execute(
            uri: path, method: .post, headers: headers, body: ByteBuffer(string: body)
        ) { response in
            (response.status, String(buffer: response.body))
        }
    }

    /// Posts JSON and returns the status and the decoded answer.
    func postJSON(_ path: String, _ fields: [String: String]) async throws -> (HTTPResponse.Status, [String: String]) {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        let body = try JSONEncoder().encode(fields)
        return try await execute(
            uri: path, method: .post, headers: headers, body: ByteBuffer(bytes: body)
        ) { response in
            let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any] ?? [:]
            return (response.status, object.mapValues { "\($0)" })
        }
    }
}

extension TestService {
    /// Waits (at most `limit` of real time) until `condition` holds, moving the clock a
    /// second at each look: a queue pass that read the clock just before a test moved it
    /// sleeps until a second past the time it read, which a manual clock reaches only if
    /// it keeps moving (as a real one does).
    func eventuallyOnTheClock(
        within limit: Duration = .seconds(10), _ condition: @Sendable () async throws -> Bool
    ) async -> Bool {
        await eventually(within: limit) {
            if try await condition() { return true }
            clock.advance(by: .seconds(1))
            return false
        }
    }
}

/// The sign-up id in a page's hidden field.
func signupID(in page: String) -> String? {
    guard let range = page.range(of: "name=\"id\" value=\"") else { return nil }
    return String(page[range.upperBound...].prefix { $0 != "\"" })
}

/// The `data-outcome` of a page.
func outcome(of page: String) -> String? {
    guard let range = page.range(of: "data-outcome=\"") else { return nil }
    return String(page[range.upperBound...].prefix { $0 != "\"" })
}

/// Waits (at most `limit`) until `condition` holds (a throw counts as not yet): queue
/// events are handled asynchronously.
func eventually(
    within limit: Duration = .seconds(5), _ condition: @Sendable () async throws -> Bool
) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return (try? await condition()) == true
}
