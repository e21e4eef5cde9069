import DirectSMTP
import DirectSMTPTesting
import Foundation
import PostgresNIO
import Testing

/// `directsmtp-postgres`, run as a script would: every `directsmtp` command, with the queue
/// in PostgreSQL when `--queue` is a postgresql:// URL, and the same output, JSON and exit
/// codes as with a journal file.
@Suite(.enabled(if: TestDatabase.isAvailable, TestDatabase.skipNote))
struct PostgresCommandTests {
    /// A mock DNS server for `ok.test` (MX on 127.0.0.1) and a mock SMTP server that
    /// greylists `grey@ok.test` and accepts everyone else.
    struct World {
        let dns: MockDNSServer
        let smtp: MockSMTPServer

        init() throws {
            dns = try MockDNSServer.start()
            dns.setMailDomain("ok.test", [(10, "mx.ok.test", ["127.0.0.1"])])
            smtp = try MockSMTPServer.start { $0.recipients["grey@ok.test"] = .reply(451, "4.7.1 greylisted, try again later") }
        }

        var flags: [String] { ["--dns", "\(dns.address)", "--port", "\(smtp.port)"] }

        func stop() {
            smtp.stop()
            dns.stop()
        }
    }

    /// One step of the scenario: its exit status and its JSON lines without the fields that
    /// differ from run to run (ids, ages, timings).
    struct Step: Equatable, CustomStringConvertible {
        var status: Int32
        var lines: [String]

        init(_ run: CommandRunner.Run) {
            status = run.status
            nextAttempt = (run.jsonLines.first?["entries"] as? [[String: Any]])?.first?["nextAttemptSeconds"] as? Int
            lines = run.jsonLines.map { object in
                let data = try? JSONSerialization.data(withJSONObject: Self.stable(object), options: [.sortedKeys])
                return data.map { String(decoding: $0, as: UTF8.self) } ?? "?"
            }
        }

        /// `value` without the keys that differ from run to run, at any depth.
        static func stable(_ value: Any) -> Any {
            // nextAttemptSeconds too: a second may pass between the send and the list.
            let volatile: Set = ["id", "ageSeconds", "elapsedMs", "timings", "nextAttemptSeconds"]
            if let object = value as? [String: Any] {
                return object.filter { !volatile.contains($0.key) }.mapValues(stable)
            }
            if let array = value as? [Any] { return array.map(stable) }
            return value
        }

        /// The first listed entry's `nextAttemptSeconds`, if any.
        var nextAttempt: Int?

        var description: String { "exit \(status) \(lines)" }

        /// Equal status and stable JSON (``nextAttempt`` is checked on its own).
        static func == (a: Step, b: Step) -> Bool { a.status == b.status && a.lines == b.lines }
    }

    /// send (greylisted → queued; accepted → not queued), list, run (nothing due), run --all
    /// (delivered), list, purge: the steps' statuses and JSON for the queue at `location`.
    static func scenario(_ location: String, _ command: CommandRunner, _ world: World) async throws -> [Step] {
        world.smtp.update { $0.recipients["grey@ok.test"] = .reply(451, "4.7.1 greylisted, try again later") }
        let send = ["send", "--from", "app@client.test", "--helo", "client.test", "--queue", location, "--json"]
        var steps: [Step] = []
        steps.append(Step(try await command.run(send + ["--to", "grey@ok.test"] + world.flags)))
        steps.append(Step(try await command.run(send + ["--to", "jane@ok.test"] + world.flags)))
        steps.append(Step(try await command.run(["queue", "list", "--queue", location, "--json"])))
        steps.append(Step(try await command.run(["queue", "run", "--queue", location, "--json"] + world.flags)))
        world.smtp.update { $0.recipients["grey@ok.test"] = nil }
        steps.append(Step(try await command.run(["queue", "run", "--all", "--queue", location, "--json"] + world.flags)))
        steps.append(Step(try await command.run(["queue", "list", "--queue", location, "--json"])))
        steps.append(Step(try await command.run(["queue", "purge", "--queue", location, "--json"])))
        return steps
    }

    @Test(
        "send --queue postgresql:// queues a greylisted message; queue list/run/purge work it, as with a journal",
        .timeLimit(.minutes(3)))
    func sameAsJournal() async throws {
        let world = try World()
        defer { world.stop() }
        let table = TestDatabase.freshTable("cli")
        let command = try CommandRunner("directsmtp-postgres", environment: ["DIRECTSMTP_POSTGRES_TABLE": table])
        let url = try #require(TestDatabase.urlText)
        let journal = FileManager.default.temporaryDirectory.appendingPathComponent(
            "directsmtp-postgres-cli-\(UUID().uuidString).journal"
        ).path
        defer { try? FileManager.default.removeItem(atPath: journal) }

        let inPostgres = try await Self.scenario(url, command, world)
        let inJournal = try await Self.scenario(journal, command, world)
        try await TestDatabase.withClient { client in await TestDatabase.drop(table, on: client) }

        #expect(inPostgres.map(\.status) == [75, 0, 0, 0, 0, 0, 0], "\(inPostgres)")
        #expect(inPostgres == inJournal)
        #expect(inPostgres[0].lines.first?.contains(#""queued":true"#) == true, "\(inPostgres[0])")
        #expect(inPostgres[1].lines.first?.contains(#""queued":false"#) == true, "\(inPostgres[1])")
        #expect(inPostgres[2].lines.first?.contains(#""to":"grey@ok.test""#) == true, "\(inPostgres[2])")
        #expect(inPostgres[2].nextAttempt.map { (240...300).contains($0) } == true, "first retry in about 5 min")
        #expect(inPostgres[3].lines.isEmpty, "nothing is due before the first retry: \(inPostgres[3])")
        #expect(inPostgres[4].lines.first?.contains(#""outcome":"delivered""#) == true, "\(inPostgres[4])")
        #expect(inPostgres[5].lines == [#"{"entries":[]}"#], "\(inPostgres[5])")
        // Two scenarios: jane twice at once, grey twice after its greylisting.
        #expect(world.smtp.deliveryCount == 4)
    }

    @Test("queue list names the database without its password", .timeLimit(.minutes(1)))
    func passwordHidden() async throws {
        let table = TestDatabase.freshTable("cli")
        let command = try CommandRunner("directsmtp-postgres", environment: ["DIRECTSMTP_POSTGRES_TABLE": table])
        let url = try TestDatabase.url
        let run = try await command.run(["queue", "list", "--queue", try #require(TestDatabase.urlText)])
        try await TestDatabase.withClient { client in await TestDatabase.drop(table, on: client) }
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.contains("queue postgresql://\(url.username):***@"), "\(run)")
        if let password = url.password { #expect(!run.stdout.contains(password) && !run.stderr.contains(password)) }
    }

    @Test("A refused password exits 74 and says so, without repeating it; nothing is sent", .timeLimit(.minutes(1)))
    func wrongPassword() async throws {
        let world = try World()
        defer { world.stop() }
        var url = try TestDatabase.url
        url.password = "not-the-password-\(UUID().uuidString.prefix(8))"
        let text = "postgresql://\(url.username):\(url.password!)@\(url.host):\(url.port)/\(url.database)"
        let command = try CommandRunner("directsmtp-postgres")
        let listed = try await command.run(["queue", "list", "--queue", text])
        #expect(listed.status == 74, "\(listed)")
        #expect(listed.stderr.contains("authentication") || listed.stderr.contains("credentials"), "\(listed)")
        let sent = try await command.run(
            ["send", "--to", "grey@ok.test", "--from", "app@client.test", "--queue", text] + world.flags)
        #expect(sent.status == 74, "\(sent)")
        for run in [listed, sent] {
            #expect(!run.stdout.contains(url.password!) && !run.stderr.contains(url.password!))
        }
        #expect(world.smtp.connectionCount == 0, "the queue is opened before anything is sent")
    }

    @Test("A table altered by hand exits 65 (not a queue) and nothing is sent or lost", .timeLimit(.minutes(1)))
    func alteredTable() async throws {
        let world = try World()
        defer { world.stop() }
        let url = try #require(TestDatabase.urlText)
        try await TestDatabase.withClient { client in
            let store = try await TestDatabase.freshStore(client, prefix: "cli")
            defer { Task { await TestDatabase.drop(store.table, on: client) } }
            try await store.enqueue(workerEntry(1, now: Date()))
            try await TestDatabase.sql("ALTER TABLE \"\(store.table)\" DROP COLUMN last_reason", on: client)
            let command = try CommandRunner("directsmtp-postgres", environment: ["DIRECTSMTP_POSTGRES_TABLE": store.table])
            let listed = try await command.run(["queue", "list", "--queue", url, "--json"])
            #expect(listed.status == 65, "\(listed)")
            #expect(listed.stderr.contains("schema-mismatch"), "\(listed)")
            let run = try await command.run(["queue", "run", "--all", "--queue", url] + world.flags)
            #expect(run.status == 65, "\(run)")
            let sent = try await command.run(
                ["send", "--to", "jane@ok.test", "--from", "app@client.test", "--queue", url] + world.flags)
            #expect(sent.status == 65, "\(sent)")
            #expect(world.smtp.connectionCount == 0)
            #expect(try await TestDatabase.count(store.table, on: client) == 1, "the entry is still there")
            await TestDatabase.drop(store.table, on: client)
        }
    }
}

/// What needs no database: URLs that cannot work, and the commands that have no queue.
@Suite struct PostgresCommandWithoutDatabaseTests {
    @Test(
        "A URL that cannot be read is a usage error (64); one that points nowhere exits 74",
        .timeLimit(.minutes(1)))
    func badURLs() async throws {
        let command = try CommandRunner("directsmtp-postgres")
        for url in ["postgresql://127.0.0.1/db", "postgresql://app@127.0.0.1/", "postgresql://app@127.0.0.1/db?tls=1"] {
            let run = try await command.run(["queue", "list", "--queue", url])
            #expect(run.status == 64, "\(url): \(run)")
        }
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let nowhere = try await command.run(["queue", "list", "--queue", "postgresql://app:secret-pw@127.0.0.1:1/db"])
        #expect(nowhere.status == 74, "\(nowhere)")
        #expect(!nowhere.stderr.contains("secret-pw") && !nowhere.stdout.contains("secret-pw"), "\(nowhere)")
        let badTable = try CommandRunner("directsmtp-postgres", environment: ["DIRECTSMTP_POSTGRES_TABLE": "no such table"])
        let run = try await badTable.run(["queue", "list", "--queue", "postgresql://app@127.0.0.1:1/db"])
        #expect(run.status == 64, "\(run)")
    }

    @Test("help lists the commands and the postgresql:// queue; mx and a journal path work as in directsmtp")
    func otherCommands() async throws {
        let command = try CommandRunner("directsmtp-postgres")
        let help = try await command.run(["help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("directsmtp queue list|run|purge") && help.stdout.contains("postgresql://"))
        #expect(try await command.run(["frobnicate"]).status == 64)

        let dns = try MockDNSServer.start()
        defer { dns.stop() }
        dns.setMailDomain("ok.test", [(10, "mx.ok.test", ["127.0.0.1"])])
        let mx = try await command.run(["mx", "ok.test", "--dns", "\(dns.address)", "--json"])
        #expect(mx.status == 0, "\(mx)")
        #expect(mx.stdout.contains(#""host":"mx.ok.test""#), "\(mx)")

        let missingFolder = try await command.run(["queue", "list", "--queue", "/nonexistent-\(UUID())/q.journal"])
        #expect(missingFolder.status == 66, "\(missingFolder)")
    }
}
