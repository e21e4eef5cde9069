import DirectSMTP
import DirectSMTPPostgres
import Foundation
import PostgresNIO
import Testing

/// A database that cannot be used ends in a clear, typed error within a bounded time; an
/// enqueue that failed says so.
struct PostgresBadInputTests {
    @Test(arguments: [
        ("mysql://u@h/db", "scheme"),
        ("postgresql://h/db", "no user"),
        ("postgresql://u@/db", "no host"),
        ("postgresql://u@h", "no database"),
        ("postgresql://u@h:0/db", "port"),
        ("postgresql://u:secret@h/db?sslmode=sometimes", "sslmode"),
        ("postgresql://u:secret@h/db?application=x", "unknown parameter"),
    ])
    func badURLs(_ url: String, _ why: String) async {
        let error = await expectStoreError(.invalidConfiguration) { _ = try PostgresConnectionURL(url) }
        #expect(error?.message.contains(why) == true, "\(String(describing: error))")
        #expect(error?.message.contains("secret") == false)
    }

    @Test func urlsAreReadAsLibpqWritesThem() throws {
        let url = try PostgresConnectionURL("postgres://app%40x:p%3Ass@[::1]:6543/queue%20db?sslmode=disable")
        #expect(url.username == "app@x")
        #expect(url.password == "p:ss")
        #expect(url.host == "::1")
        #expect(url.port == 6543)
        #expect(url.database == "queue db")
        #expect(url.tls == .disable)
        #expect(url.description == "postgresql://app@x:***@[::1]:6543/queue db?sslmode=disable")
        let plain = try PostgresConnectionURL("postgresql://u@db.internal/q")
        #expect(plain.port == 5432)
        #expect(plain.tls == .prefer)
        #expect(plain.password == nil)
    }

    @Test func aURLPointingNowhereFailsClearlyAndFast() async throws {
        // Port 1 on loopback: nothing listens, the kernel refuses at once.
        let nowhere = try PostgresConnectionURL("postgresql://directsmtp:x@127.0.0.1:1/directsmtp?sslmode=disable")
        let started = ContinuousClock.now
        let error = await expectStoreError(.databaseUnavailable) { try await nowhere.checkConnection(timeout: .seconds(5)) }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(error?.message.contains("127.0.0.1:1") == true, "\(String(describing: error))")
        #expect(error?.message.contains(":x@") == false)
    }

    @Test func aStoreOnAnUnreachableDatabaseNeverSaysQueued() async throws {
        let nowhere = try PostgresConnectionURL("postgresql://directsmtp:x@127.0.0.1:1/directsmtp?sslmode=disable")
        try await TestDatabase.withClient(url: nowhere) { client in
            let store = try PostgresQueueStore(
                client: client,
                configuration: .init(table: "nowhere", operationTimeout: .seconds(2), logger: TestDatabase.quietLogger))
            let started = ContinuousClock.now
            await expectStoreError(.databaseUnavailable) { try await store.migrate() }
            await expectStoreError(.databaseUnavailable) { try await store.enqueue(sampleEntry("lost?")) }
            await expectStoreError(.databaseUnavailable) { _ = try await store.list() }
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    @Test(.enabled(if: TestDatabase.isAvailable, TestDatabase.skipNote))
    func aWrongPasswordIsNamedAsSuch() async throws {
        var wrong = try TestDatabase.url
        wrong.password = "not-the-password"
        let error = await expectStoreError(.authenticationFailed) { try await wrong.checkConnection(timeout: .seconds(10)) }
        #expect(error?.message.contains("not-the-password") == false)
        #expect(error?.message.contains("password authentication failed") == true, "\(String(describing: error))")

        // Through a pool the reason is hidden, but the call still fails within its timeout.
        try await TestDatabase.withClient(url: wrong) { client in
            let store = try PostgresQueueStore(
                client: client,
                configuration: .init(table: "wrong_password", operationTimeout: .seconds(2), logger: TestDatabase.quietLogger))
            await expectStoreError(.databaseUnavailable) { try await store.enqueue(sampleEntry("x")) }
        }
    }

    @Test(.enabled(if: TestDatabase.isAvailable, TestDatabase.skipNote))
    func aDatabaseThatDoesNotExistIsNamed() async throws {
        var missing = try TestDatabase.url
        missing.database = "no_such_database"
        let error = await expectStoreError(.databaseUnavailable) { try await missing.checkConnection(timeout: .seconds(10)) }
        #expect(error?.message.contains("no_such_database") == true, "\(String(describing: error))")
    }
}
