import DirectSMTP
import DirectSMTPPostgres
import Foundation
import PostgresNIO
import Testing

/// Creating and migrating the queue table: idempotent, safe when servers start together,
/// refusing tables it does not understand, and keeping claims on an index.
@Suite(.enabled(if: TestDatabase.isAvailable, TestDatabase.skipNote))
struct PostgresSchemaTests {
    @Test func migrateIsIdempotent() async throws {
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client) { store in
                try await store.enqueue(sampleEntry("kept"))
                try await store.migrate()
                try await store.migrate()
                #expect(try await store.list().map(\.id) == ["kept"])
                let rows = try await TestDatabase.sql(
                    "SELECT version FROM directsmtp_schema_versions WHERE table_name = '\(store.table)'", on: client)
                #expect(try rows.map { try $0.decode(Int32.self) } == [2])
            }
        }
    }

    /// A table of version 1 (the table alone, claims planned on every call) with entries in
    /// it, one of them leased: `migrate()` brings it to version 2 (the claim function),
    /// keeping every row and lease.
    @Test func aVersionOneTableIsMigratedWithItsEntries() async throws {
        try await TestDatabase.withClient { client in
            let table = TestDatabase.freshTable("v1")
            let store = try PostgresQueueStore(
                client: client, configuration: .init(table: table, logger: TestDatabase.quietLogger))
            for statement in store.migrationStatements(from: 0) { try await TestDatabase.sql(statement, on: client) }
            try await TestDatabase.sql(
                "CREATE TABLE IF NOT EXISTS directsmtp_schema_versions (table_name text PRIMARY KEY, version integer NOT NULL, migrated_at timestamptz NOT NULL DEFAULT now())",
                on: client)
            try await TestDatabase.sql(
                "INSERT INTO directsmtp_schema_versions (table_name, version) VALUES ('\(table)', 1)", on: client)
            // Version 1 rows, written as version 1 wrote them.
            let t = "\"\(table)\""
            try await TestDatabase.sql(
                """
                INSERT INTO \(t) (id, mail_from, rcpt_to, message_id, data, created_at, next_attempt_at, attempts, last_reason,
                    lease_token, lease_expires_at)
                VALUES ('old-free', 'a@example.org', 'b@example.com', '<1@x>', '\\x41'::bytea, now(), now() - interval '1 minute', 1, 'temporary-failure', NULL, NULL),
                       ('old-held', 'a@example.org', 'c@example.com', '<2@x>', '\\x42'::bytea, now(), now() - interval '1 minute', 1, NULL, 'held-token', now() + interval '1 hour')
                """, on: client)

            try await store.migrate()
            let version = try await TestDatabase.sql(
                "SELECT version FROM directsmtp_schema_versions WHERE table_name = '\(table)'", on: client)
            #expect(try version.map { try $0.decode(Int32.self) } == [2])
            #expect(try await store.list().map(\.id).sorted() == ["old-free", "old-held"])
            // The claim (now the function) takes the free entry only; the held lease still acts.
            let claimed = try await store.claimDue(now: Date(), limit: 10, leaseFor: .seconds(60))
            #expect(claimed.map(\.entry.id) == ["old-free"])
            #expect(claimed.first?.entry.data == Array("A".utf8))
            let held = QueueLease(entryID: "old-held", token: "held-token", expiresAt: Date().addingTimeInterval(3600))
            try await store.complete(held)
            try await store.complete(try #require(claimed.first).lease)
            #expect(try await store.list().isEmpty)
            try await store.migrate()
            await TestDatabase.drop(table, on: client)
        }
    }

    @Test func serversStartingTogetherMigrateOnce() async throws {
        try await TestDatabase.withClient { client in
            let table = TestDatabase.freshTable("together")
            let configuration = PostgresQueueStore.Configuration(
                table: table, operationTimeout: .seconds(60), logger: TestDatabase.quietLogger)
            // Eight "servers" call migrate at the same moment on a table nobody created yet:
            // without the advisory lock, CREATE TABLE IF NOT EXISTS races and one fails.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await PostgresQueueStore(client: client, configuration: configuration).migrate()
                    }
                }
                try await group.waitForAll()
            }
            let store = try PostgresQueueStore(client: client, configuration: configuration)
            try await store.enqueue(sampleEntry("a"))
            #expect(try await store.list().count == 1)
            await TestDatabase.drop(table, on: client)
        }
    }

    @Test func aColumnDroppedByHandIsReportedAndNothingIsLost() async throws {
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client) { store in
                try await store.enqueue(sampleEntry("one"))
                try await store.enqueue(sampleEntry("two"))
                try await TestDatabase.sql("ALTER TABLE \"\(store.table)\" DROP COLUMN last_reason", on: client)

                let migrateError = await expectStoreError(.schemaMismatch) { try await store.migrate() }
                #expect(migrateError?.message.contains("column last_reason is missing") == true)
                let enqueueError = await expectStoreError(.schemaMismatch) { try await store.enqueue(sampleEntry("three")) }
                #expect(enqueueError?.message.contains("last_reason") == true)
                await expectStoreError(.schemaMismatch) { _ = try await store.list() }
                await expectStoreError(.schemaMismatch) {
                    _ = try await store.claimDue(now: sampleEpoch.addingTimeInterval(100), limit: 5, leaseFor: .seconds(60))
                }
                // The rows already stored are still there, unleased.
                #expect(try await TestDatabase.count(store.table, on: client) == 2)
                let leased = try await TestDatabase.sql(
                    "SELECT count(*) FROM \"\(store.table)\" WHERE lease_token IS NOT NULL", on: client)
                #expect(try leased[0].decode(Int64.self) == 0)
            }
        }
    }

    @Test func aRetypedColumnIsReported() async throws {
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client) { store in
                try await TestDatabase.sql(
                    "ALTER TABLE \"\(store.table)\" ALTER COLUMN attempts TYPE text", on: client)
                let error = await expectStoreError(.schemaMismatch) { try await store.verifySchema() }
                #expect(error?.message.contains("column attempts is text, expected integer") == true)
            }
        }
    }

    @Test func aTableMigratedByANewerVersionIsLeftAlone() async throws {
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client) { store in
                try await TestDatabase.sql(
                    "UPDATE directsmtp_schema_versions SET version = 99 WHERE table_name = '\(store.table)'", on: client)
                let error = await expectStoreError(.schemaTooNew) { try await store.migrate() }
                #expect(error?.message.contains("99") == true)
            }
        }
    }

    @Test(arguments: ["", "Queue", "1queue", "queue; DROP TABLE x", "a\"b", String(repeating: "q", count: 49)])
    func tableNamesMustBePlainIdentifiers(_ name: String) async throws {
        try await TestDatabase.withClient { client in
            await expectStoreError(.invalidConfiguration) {
                _ = try PostgresQueueStore(client: client, configuration: .init(table: name))
            }
        }
    }

    /// At a hundred thousand rows of which a few are due, the claim walks the partial index
    /// (O(log n) to the first due row), never the whole table.
    @Test func claimsUseTheDueIndex() async throws {
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client) { store in
                let t = "\"\(store.table)\""
                try await TestDatabase.sql(
                    """
                    INSERT INTO \(t) (id, mail_from, rcpt_to, message_id, data, created_at, next_attempt_at, attempts)
                    SELECT 'bulk-' || i, 'a@example.org', 'b@example.com', '<' || i || '@x>', '\\x00'::bytea,
                           now(), now() + CASE WHEN i % 1000 = 0 THEN interval '-1 hour' ELSE interval '1 day' END, 1
                    FROM generate_series(1, 100000) AS i
                    """, on: client)
                try await TestDatabase.sql("ANALYZE \(t)", on: client)
                let plan = try await TestDatabase.sql(
                    "EXPLAIN " + store.claimStatementForInspection.replacingOccurrences(of: "$1", with: "now()")
                        .replacingOccurrences(of: "$2", with: "10").replacingOccurrences(of: "$3", with: "now()"),
                    on: client
                ).map { try $0.decode(String.self) }.joined(separator: "\n")
                #expect(plan.contains("\(store.table)_due"), "\(plan)")
                #expect(!plan.contains("Seq Scan"), "\(plan)")
                // Settling a batch looks each row up by its primary key.
                for statement in store.settleStatementsForInspection {
                    let arguments = ["ARRAY['bulk-1000']", "ARRAY['token']", "ARRAY[2]", "ARRAY[now()]", "ARRAY['']", "ARRAY[true]"]
                    var sql = statement
                    for (index, argument) in arguments.enumerated().reversed() {
                        sql = sql.replacingOccurrences(of: "$\(index + 1)", with: argument)
                    }
                    let plan = try await TestDatabase.sql("EXPLAIN " + sql, on: client)
                        .map { try $0.decode(String.self) }.joined(separator: "\n")
                    #expect(plan.contains("\(store.table)_pkey"), "\(plan)")
                    #expect(!plan.contains("Seq Scan"), "\(plan)")
                }
                let claimed = try await store.claimDue(now: Date(), limit: 500, leaseFor: .seconds(60))
                #expect(claimed.count == 100)
            }
        }
    }
}

let sampleEpoch = Date(timeIntervalSince1970: 1_700_000_000)

/// An entry due at the sample epoch.
func sampleEntry(_ id: String, due: Double = 0, to: String = "user@example.com") -> QueueEntry {
    QueueEntry(
        id: id, from: "noreply@example.org", to: to, data: Array("Subject: \(id)\r\n\r\ncode\r\n".utf8),
        messageID: "<\(id)@postgres.test>", createdAt: sampleEpoch, nextAttemptAt: sampleEpoch.addingTimeInterval(due),
        lastReason: "temporary-failure")
}
