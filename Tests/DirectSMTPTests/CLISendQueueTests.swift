import DirectSMTP
import DirectSMTPTesting
import Foundation
import Testing

/// `send --queue PATH` beside another holder of the journal (a second `send`, a running
/// `queue run`): the journal is taken only to store a deferred message, and only briefly.
@Suite("directsmtp send --queue beside another holder", .serialized, .timeLimit(.minutes(1)))
struct CLISendQueueTests {
    private func journalPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent(
            "directsmtp-sendqueue-\(UUID().uuidString).journal"
        ).path
    }

    private func send(_ to: String, _ world: MockWorld, queue: String) async throws -> CLIRun {
        try await runCLI([
            "send", "--to", to, "--from", "app@client.test", "--helo", "client.test",
            "--dns", "\(world.dns.address)", "--port", "\(world.port)", "--queue", queue, "--json",
        ])
    }

    /// What the journal at `path` holds now.
    private func storedEntries(_ path: String) async throws -> [QueueEntry] {
        let store = try await FileJournalQueueStore.open(path: path)
        do {
            let entries = try await store.load()
            await store.close()  // the lock is free again when this returns
            return entries
        } catch {
            await store.close()
            throw error
        }
    }

    /// The spill journals `send`s left beside the journal at `path`.
    private func spillFiles(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path + ".spill")) ?? [])
            .filter { $0.hasSuffix(".journal") }
    }

    /// The mock servers and a fresh journal path (its spill journals included), both
    /// gone after `body`.
    private func withWorldAndJournal(_ body: (MockWorld, String) async throws -> Void)
        async throws
    {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let path = journalPath()
        defer { removeQueue(path) }
        try await body(world, path)
    }

    private func removeQueue(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
        try? FileManager.default.removeItem(atPath: path + ".spill")
    }

    /// `send --queue` with a 1 s budget to a recipient whose RCPT is answered after 2 s
    /// (the command's RCPT timeout is 3 s); an address literal keeps DNS out of the way.
    private func slowSend(_ world: MockWorld, queue: String) -> [String] {
        world.smtp.update {
            $0.recipients["slow@[127.0.0.1]"] = MockSMTPResponse.reply(250, "2.1.5 OK")
                .delayed(by: .seconds(2))
        }
        return [
            "send", "--to", "slow@[127.0.0.1]", "--from", "app@client.test", "--helo",
            "client.test", "--port", "\(world.port)", "--queue", queue, "--budget", "1", "--json",
        ]
    }

    @Test("A journal held elsewhere does not stop an accepted send")
    func lockedJournalStillSends() async throws {
        try await withWorldAndJournal { world, path in
            let holder = try await FileJournalQueueStore.open(path: path)
            let run = try await send("user@ok.test", world, queue: path)
            await holder.close()
            #expect(run.status == 0, "\(run)")
            #expect(run.stdout.contains(#""reason":"accepted""#))
            #expect(world.smtp.deliveryCount == 1)
        }
    }

    @Test("A deferred send never waits for a journal held elsewhere: stored aside, taken in by the next queue command")
    func spillsWhenLocked() async throws {
        try await withWorldAndJournal { world, path in
            let holder = try await FileJournalQueueStore.open(path: path)
            let start = ContinuousClock.now
            let run = try await send("grey@ok.test", world, queue: path)
            let took = start.duration(to: .now)
            await holder.close()
            #expect(run.status == 75, "\(run)")
            #expect(run.stdout.contains(#""queued":true"#), "\(run)")
            #expect(took < .seconds(2.5), "the old 3 s wait for the lock is gone (took \(took))")
            #expect(try await storedEntries(path).isEmpty, "not in the journal yet")
            #expect(spillFiles(path).count == 1)
            let list = try await runCLI(["queue", "list", "--queue", path, "--json"])
            #expect(list.status == 0 && list.stdout.contains(#""to":"grey@ok.test""#), "\(list)")
            #expect(spillFiles(path).isEmpty, "taken in")
            #expect(try await storedEntries(path).map(\.to) == ["grey@ok.test"])
        }
    }

    @Test("A spill journal whose send still runs is left alone")
    func liveSpillLeftAlone() async throws {
        let path = journalPath()
        defer { removeQueue(path) }
        let spillDirectory = path + ".spill"
        try FileManager.default.createDirectory(atPath: spillDirectory, withIntermediateDirectories: true)
        let spill = try await FileJournalQueueStore.open(path: spillDirectory + "/1-test.journal")
        try await spill.add(QueueTestSupport.entry(id: "aside", to: "aside@example.com"))
        let store = try await FileJournalQueueStore.open(path: path)
        await store.close()
        let before = try await runCLI(["queue", "list", "--queue", path, "--json"])
        #expect(before.status == 0 && !before.stdout.contains("aside@example.com"), "\(before)")
        await spill.close()  // its send ended
        let after = try await runCLI(["queue", "list", "--queue", path, "--json"])
        #expect(after.status == 0 && after.stdout.contains("aside@example.com"), "\(after)")
        #expect(spillFiles(path).isEmpty)
    }

    @Test("A send outliving its budget while the journal is held: held aside, settled there, nothing left")
    func heldAsideAndSettled() async throws {
        try await withWorldAndJournal { world, path in
            let holder = try await FileJournalQueueStore.open(path: path)
            let run = try await runCLI(slowSend(world, queue: path))
            #expect(spillFiles(path).isEmpty, "delivered: the empty spill journal is deleted")
            await holder.close()
            let lines = run.stdout.split(separator: "\n")
            try #require(lines.count == 2, "\(run)")
            #expect(lines[0].contains(#""reason":"budget-exceeded""#))
            #expect(lines[0].contains(#""queued":true"#), "stored aside before the answer")
            #expect(lines[1].contains(#""reason":"accepted""#))
            #expect(run.status == 0)
            #expect(try await storedEntries(path).isEmpty)
            #expect(world.smtp.deliveryCount == 1)
        }
    }

    @Test("A send outliving its budget is in the journal until delivered, then leaves it")
    func budgetExceededHeldInJournal() async throws {
        try await withWorldAndJournal { world, path in
            let run = try await runCLI(slowSend(world, queue: path))
            let lines = run.stdout.split(separator: "\n")
            try #require(lines.count == 2, "\(run)")
            #expect(lines[0].contains(#""reason":"budget-exceeded""#))
            #expect(lines[0].contains(#""queued":true"#), "stored before the answer")
            #expect(lines[1].contains(#""reason":"accepted""#))
            #expect(lines[1].contains(#""queued":false"#))
            #expect(run.status == 0)
            #expect(try await storedEntries(path).isEmpty, "delivered: out of the journal")
            #expect(world.smtp.deliveryCount == 1)
        }
    }

    @Test("Settling a held send while a queue run holds the journal: a tombstone, applied by the next queue command")
    func settleWithTheJournalHeld() async throws {
        try await withWorldAndJournal { world, path in
            let made = try await FileJournalQueueStore.open(path: path)
            await made.close()
            let arguments = slowSend(world, queue: path)
            let command = Task { try await runCLI(arguments) }
            // Once the held entry is in the journal, hold the journal (as a long `queue run`
            // would) until the command has ended. Watched by its size, not by opening it: a
            // lock taken just when the send stores would send the entry to a spill journal.
            let clock = ContinuousClock()
            let limit = clock.now + .seconds(15)
            let empty = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
            while clock.now < limit,
                (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 <= empty
            {
                try await Task.sleep(for: .milliseconds(10))
            }
            let held = try await FileJournalQueueStore.open(path: path)
            try #require(try await held.load().count == 1, "the held entry never reached the journal")
            // The command ends while the journal is still held: settling does not wait.
            let run = try await command.value
            await held.close()
            #expect(run.status == 0, "\(run)")
            #expect(run.stdout.contains(#""reason":"accepted""#))
            let tombstones = ((try? FileManager.default.contentsOfDirectory(atPath: path + ".spill")) ?? [])
                .filter { $0.hasSuffix(".removed") }
            #expect(tombstones.count == 1)
            #expect(try await storedEntries(path).count == 1, "not removed yet: the journal was held")
            let list = try await runCLI(["queue", "list", "--queue", path, "--json"])
            #expect(list.status == 0 && list.stdout == #"{"entries":[]}"# + "\n", "\(list)")
            #expect(try await storedEntries(path).isEmpty, "the tombstone removed it")
            #expect(world.smtp.deliveryCount == 1)
        }
    }

    @Test("A removal that cannot be applied stops the queue command (exit 75); stale leftovers go")
    func unappliedRemovalStopsTheCommand() async throws {
        let path = journalPath()
        defer { removeQueue(path) }
        let made = try await FileJournalQueueStore.open(path: path)
        await made.close()
        let spill = path + ".spill"
        try FileManager.default.createDirectory(atPath: spill, withIntermediateDirectories: true)
        // A tombstone that cannot be read (a directory by that name).
        try FileManager.default.createDirectory(
            atPath: spill + "/1-bad.removed", withIntermediateDirectories: true)
        // The leftover of a tombstone whose writer died before renaming it, 2 min old.
        let stale = spill + "/1-old.tmp"
        try #require(FileManager.default.createFile(atPath: stale, contents: Data("x\n".utf8)))
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -120)], ofItemAtPath: stale)
        let run = try await runCLI(["queue", "run", "--queue", path])
        #expect(run.status == 75, "\(run)")
        #expect(run.stderr.contains("could not be applied"), "\(run)")
        #expect(!FileManager.default.fileExists(atPath: stale))
    }

    @Test("Two sends at once with one queue: both go out, both deferrals are stored")
    func concurrentSends() async throws {
        try await withWorldAndJournal { world, path in
            async let first = send("grey@ok.test", world, queue: path)
            async let second = send("grey@ok.test", world, queue: path)
            let runs = try await [first, second]
            for run in runs {
                #expect(run.status == 75, "\(run)")
                #expect(run.stdout.contains(#""queued":true"#), "\(run)")
            }
            // One may have found the journal held by the other and stored aside: the queue
            // command takes both in.
            _ = try await runCLI(["queue", "list", "--queue", path])
            #expect(try await storedEntries(path).count == 2)
        }
    }
}
