import Foundation
import Testing

/// `directsmtp send --input`: the same message to each address of a file, one JSON line per
/// address with its final outcome, deferred ones into the queue. Mock servers on loopback.
@Suite("directsmtp send --input", .serialized, .timeLimit(.minutes(1)))
struct CLIBulkSendTests {
    @Test("one final outcome per address; deferred ones queued; malformed lines reported")
    func sendsEachAddress() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("bulk-send-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("addresses.txt").path
        try "user@ok.test\nnobody@ok.test\nnot an address\ngrey@ok.test\nslow@ok.test\n"
            .write(toFile: input, atomically: true, encoding: .utf8)
        let journal = directory.appendingPathComponent("mail.journal").path
        let run = try await runCLI([
            "send", "--input", input, "--from", "app@client.test", "--subject", "Hello",
            "--body", "Welcome aboard.", "--queue", journal, "--concurrency", "4",
            "--helo", "client.test", "--dns", "\(world.dns.address)", "--port", "\(world.port)",
            "--budget", "1",
        ])
        #expect(run.status == 0, "\(run)")
        let byLine = Dictionary(
            uniqueKeysWithValues: try run.stdout.split(separator: "\n").map {
                let object = try #require(
                    try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
                return (object["line"] as? Int ?? 0, object)
            })
        #expect(byLine.keys.sorted() == [1, 2, 3, 4, 5])
        #expect(byLine[1]?["reason"] as? String == "accepted")
        #expect(byLine[2]?["reason"] as? String == "recipient-rejected")
        #expect(byLine[3]?["input"] as? String == "not an address")
        #expect(byLine[4]?["reason"] as? String == "temporary-failure")
        #expect(byLine[4]?["queued"] as? Bool == true)
        // Its 1 s budget ended inside the transaction: the line is the final outcome.
        #expect(byLine[5]?["reason"] as? String == "accepted")
        #expect(run.stderr.contains("directsmtp send: 5 of 5 lines"), "\(run.stderr)")
        #expect(world.smtp.deliveries.map(\.to).flatMap { $0 }.sorted() == ["slow@ok.test", "user@ok.test"])
        let list = try await runCLI(["queue", "list", "--queue", journal, "--json"])
        #expect(list.stdout.contains("grey@ok.test") && !list.stdout.contains("slow@ok.test"), "\(list)")
    }

    @Test("--to and --input together, or neither, are usage errors")
    func usage() async throws {
        let both = try await runCLI(["send", "--to", "a@b.test", "--input", "-", "--from", "c@d.test"])
        #expect(both.status == 64 && both.stderr.contains("not both"))
        let neither = try await runCLI(["send", "--from", "c@d.test"])
        #expect(neither.status == 64 && neither.stderr.contains("--to (or --input) is required"))
        let zero = try await runCLI(["send", "--input", "-", "--from", "c@d.test", "--concurrency", "0"])
        #expect(zero.status == 64)
    }
}
