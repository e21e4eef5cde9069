import Foundation
import Testing

@testable import DirectSMTP

/// `directsmtp queue list|run|purge`, through the built executable.
@Suite("Queue: directsmtp queue command")
struct QueueCommandTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func directsmtp(_ arguments: [String], in directory: QueueTestSupport.TemporaryDirectory)
        async throws -> Run
    {
        let bundle = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            .deletingLastPathComponent()
        let executable = bundle.appendingPathComponent("directsmtp")
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw QueueCrashTests.CrashTestError(
                "these tests need the directsmtp executable at \(executable.path); build it first (swift build --build-tests)"
            )
        }
        let tag = UUID().uuidString
        let out = directory.file("\(tag).out")
        let err = directory.file("\(tag).err")
        let process = try QueueCrashTests.spawn(executable, arguments, stdout: out, stderr: err)
        let finished = await QueueTestSupport.eventually(timeout: .seconds(20)) {
            process.exitIfDone() != nil
        }
        guard finished, let ended = process.exitIfDone() else {
            try await QueueCrashTests.kill9(process)
            throw QueueCrashTests.CrashTestError(
                "directsmtp \(arguments) did not finish within 20 s")
        }
        return Run(
            status: ended.status,
            stdout: try String(contentsOfFile: out, encoding: .utf8),
            stderr: try String(contentsOfFile: err, encoding: .utf8))
    }

    /// A journal with an entry created 2 h ago (tried 3 times) and one created now.
    static func makeJournal(_ directory: QueueTestSupport.TemporaryDirectory) async throws -> String
    {
        let path = directory.file("queue.journal")
        let store = try await FileJournalQueueStore.open(path: path)
        let now = Date()
        var old = QueueTestSupport.entry(
            id: "old-one", to: "old@example.com", at: now.addingTimeInterval(-7200),
            nextAttemptAt: now.addingTimeInterval(600))
        old.attempts = 3
        old.lastReason = "no-reachable-host"
        var fresh = QueueTestSupport.entry(
            id: "fresh-one", to: "fresh@example.net", at: now,
            nextAttemptAt: now.addingTimeInterval(300))
        fresh.lastReason = nil
        try await store.add(old)
        try await store.add(fresh)
        await store.close()
        return path
    }

    @Test("list --json shows every entry with the documented fields", .timeLimit(.minutes(1)))
    func listJSON() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = try await Self.makeJournal(directory)
        let run = try await Self.directsmtp(
            ["queue", "list", "--queue", path, "--json"], in: directory)
        #expect(run.status == 0, "\(run.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let entries = try #require(object?["entries"] as? [[String: Any]])
        #expect(entries.count == 2)
        let old = try #require(entries.first)
        #expect(old["id"] as? String == "old-one")
        #expect(old["to"] as? String == "old@example.com")
        #expect(old["from"] as? String == "noreply@example.org")
        #expect(old["attempts"] as? Int == 3)
        #expect(old["lastReason"] as? String == "no-reachable-host")
        let age = try #require(old["ageSeconds"] as? Int)
        #expect((7195...7300).contains(age))
        let next = try #require(old["nextAttemptSeconds"] as? Int)
        #expect((500...601).contains(next))
        let fresh = try #require(entries.last)
        #expect(fresh["lastReason"] is NSNull)
        #expect(
            Set(fresh.keys) == [
                "id", "to", "from", "ageSeconds", "attempts", "nextAttemptSeconds", "lastReason",
            ])

        let human = try await Self.directsmtp(["queue", "list", "--queue", path], in: directory)
        #expect(human.status == 0)
        #expect(
            human.stdout.contains("old-one") && human.stdout.contains("attempts 3")
                && human.stdout.contains("2.0 h"))
    }

    @Test("purge --max-age removes the old entry with the expired outcome", .timeLimit(.minutes(1)))
    func purge() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = try await Self.makeJournal(directory)
        // Default maximum age (24 h): nothing to purge.
        let none = try await Self.directsmtp(
            ["queue", "purge", "--queue", path, "--json"], in: directory)
        #expect(none.status == 0)
        #expect(none.stdout.isEmpty)
        let run = try await Self.directsmtp(
            ["queue", "purge", "--queue", path, "--max-age", "3600", "--json"], in: directory)
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(object["id"] as? String == "old-one")
        #expect(object["outcome"] as? String == "expired")

        let store = try await FileJournalQueueStore.open(path: path)
        #expect(try await store.load().map(\.id) == ["fresh-one"])
        await store.close()
    }

    @Test(
        "run with nothing due re-sends nothing and exits 0 (re-sending goes through the coordinator)",
        .timeLimit(.minutes(1)))
    func runNothingDue() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = try await Self.makeJournal(directory)
        let run = try await Self.directsmtp(
            ["queue", "run", "--queue", path, "--dns", "127.0.0.1:5353", "--port", "2525"],
            in: directory)
        // makeRedeliver is wired to the coordinator; both entries are due only later.
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("nothing was due"))
        #expect(!run.stderr.contains("not available"))
        let store = try await FileJournalQueueStore.open(path: path)
        #expect(try await store.load().count == 2)
        await store.close()
    }

    @Test(
        "usage errors exit 64",
        .timeLimit(.minutes(1)),
        arguments: [
            ["queue", "list"],
            ["queue", "--queue", "/tmp/x"],
            ["queue", "frobnicate", "--queue", "/tmp/x"],
            ["queue", "purge", "--queue", "/tmp/x", "--max-age", "-5"],
            ["queue", "run", "--queue", "/tmp/x", "--port", "70000"],
            ["queue", "run", "--queue", "/tmp/x", "--dns", "dns.example:53"],  // a name, not an address
            ["queue", "list", "--queue", "/tmp/x", "--bogus"],
        ])
    func usageErrors(arguments: [String]) async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let run = try await Self.directsmtp(arguments, in: directory)
        #expect(run.status == 64)
        #expect(run.stderr.contains("usage"))
    }

    @Test(
        "a missing journal is an empty queue and is not created; a locked one exits 75",
        .timeLimit(.minutes(1)))
    func missingAndLocked() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let missing = directory.file("none.journal")
        let run = try await Self.directsmtp(
            ["queue", "list", "--queue", missing, "--json"], in: directory)
        #expect(run.status == 0)
        #expect(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == #"{"entries":[]}"#)
        #expect(!FileManager.default.fileExists(atPath: missing))

        let path = try await Self.makeJournal(directory)
        let holder = try await FileJournalQueueStore.open(path: path)
        let locked = try await Self.directsmtp(["queue", "list", "--queue", path], in: directory)
        await holder.close()
        #expect(locked.status == 75)
        #expect(locked.stderr.contains("locked"))
    }
}
