import Foundation
import Testing

@testable import DirectSMTP

#if canImport(Glibc)
    import Glibc
#endif

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
        try await store.enqueue(old)
        try await store.enqueue(fresh)
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
        #expect(try await store.list().map(\.id) == ["fresh-one"])
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
        #expect(try await store.list().count == 2)
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
        "a missing journal in an existing folder is an empty queue, and is not created",
        .timeLimit(.minutes(1)), arguments: ["list", "run", "purge"])
    func missingJournal(action: String) async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let missing = directory.file("none.journal")
        let run = try await Self.directsmtp(
            ["queue", action, "--queue", missing, "--json", "--dns", "127.0.0.1:5353"]
                .filter { action == "run" || !["--dns", "127.0.0.1:5353"].contains($0) },
            in: directory)
        #expect(run.status == 0, "\(run.stderr)")
        if action == "list" {
            #expect(
                run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == #"{"entries":[]}"#)
        }
        #expect(!FileManager.default.fileExists(atPath: missing))
    }

    @Test(
        "a journal in a folder that does not exist exits 66, for list too (not an empty queue)",
        .timeLimit(.minutes(1)), arguments: ["list", "run", "purge"])
    func missingFolder(action: String) async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("no-such-folder/queue.journal")
        let run = try await Self.directsmtp(["queue", action, "--queue", path], in: directory)
        #expect(run.status == 66, "\(run)")
        #expect(run.stderr.contains("does not exist"), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("no-such-folder")))
    }

    @Test("a file that is not a journal exits 65 and is left untouched", .timeLimit(.minutes(1)))
    func notAJournal() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("notes.txt")
        let text = Data(String(repeating: "not a journal\n", count: 20).utf8)
        try text.write(to: URL(fileURLWithPath: path))
        for action in ["list", "purge"] {
            let run = try await Self.directsmtp(["queue", action, "--queue", path], in: directory)
            #expect(run.status == 65, "\(action): \(run)")
            #expect(run.stderr.contains("not a DirectSMTP queue journal"), "\(run.stderr)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == text)
    }

    @Test(
        "a journal that cannot be read exits 74: a directory, a FIFO, a file without permission",
        .timeLimit(.minutes(1)), arguments: ["directory", "fifo", "unreadable"])
    func unreadable(kind: String) async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        switch kind {
        case "directory":
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: false)
        case "fifo":
            #expect(mkfifo(path, 0o600) == 0)
        default:
            // Root reads a mode-000 file all the same: nothing to show there.
            guard geteuid() != 0 else { return }
            _ = try await Self.makeJournal(directory)
            #expect(chmod(path, 0) == 0)
        }
        let run = try await Self.directsmtp(["queue", "list", "--queue", path], in: directory)
        #expect(run.status == 74, "\(kind): \(run)")
        #expect(!run.stderr.isEmpty)
    }

    @Test(
        "a journal open and worked by an application lists at once; one stuck in its lock exits 75",
        .timeLimit(.minutes(1)))
    func openElsewhereAndStuck() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = try await Self.makeJournal(directory)
        let application = try await FileJournalQueueStore.open(path: path)
        let claimed = try await application.claimDue(
            now: Date().addingTimeInterval(3600), limit: 1, leaseFor: .seconds(600))
        #expect(claimed.count == 1)
        let listed = try await Self.directsmtp(["queue", "list", "--queue", path], in: directory)
        #expect(listed.status == 0, "\(listed)")
        #expect(listed.stdout.contains("2 entries"), "\(listed.stdout)")
        await application.close()

        // A process that took the lock and never lets go (stopped, say): after the
        // store's patience (5 s), 75.
        let fd = open(path, O_RDWR | O_CLOEXEC)
        #expect(fd >= 0 && flock(fd, LOCK_EX) == 0)
        defer { close(fd) }
        let stuck = try await Self.directsmtp(["queue", "list", "--queue", path], in: directory)
        #expect(stuck.status == 75, "\(stuck)")
        #expect(stuck.stderr.contains("locked"), "\(stuck.stderr)")
    }
}
