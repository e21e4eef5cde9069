import ChildProcess
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `directsmtp probe --input`: one JSON line per input line, malformed lines reported and
/// skipped over, a summary, Ctrl-C printing what is done. Mock servers on loopback only.
@Suite("directsmtp probe --input", .serialized, .timeLimit(.minutes(1)))
struct CLIBulkProbeTests {
    private func objects(_ stdout: String) throws -> [[String: Any]] {
        try stdout.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    private func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("bulk-\(UUID().uuidString).txt").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("a file: one JSON line per address, malformed lines on their own, a summary")
    func file() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let path = try write(
            """
            # a comment
            user@ok.test
            nobody@ok.test

            not an address
            user@nullmx.test
            grey@ok.test
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = try await runCLI([
            "probe", "--input", path, "--concurrency", "3", "--helo", "client.test", "--dns",
            "\(world.dns.address)", "--port", "\(world.port)", "--budget", "3",
        ])
        #expect(run.status == 0, "\(run)")
        let byLine = Dictionary(
            uniqueKeysWithValues: try objects(run.stdout).map { ($0["line"] as? Int ?? 0, $0) })
        #expect(byLine.keys.sorted() == [2, 3, 5, 6, 7])
        #expect(byLine[2]?["reason"] as? String == "accepted")
        #expect(byLine[3]?["reason"] as? String == "recipient-rejected")
        #expect(byLine[5]?["input"] as? String == "not an address")
        #expect(byLine[5]?["error"] is String)
        #expect(byLine[6]?["reason"] as? String == "no-mail-server")
        #expect(byLine[7]?["reason"] as? String == "temporary-failure")
        #expect(
            run.stderr.contains(
                "5 of 5 lines") && run.stderr.contains("accepted 1, rejected 2, deferred 1, invalid 1"),
            "\(run.stderr)")
        #expect(!run.stderr.contains("\u{1B}[K"), "no progress line when stderr is not a terminal")
        #expect(world.smtp.deliveryCount == 0)
    }

    @Test("standard input, and usage errors")
    func standardInput() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let executable = try directsmtpExecutable().path
        let run = try await ChildProcess.run(
            "/bin/sh",
            [
                "-c",
                "printf 'user@ok.test\\nuser@ok.test\\n' | '\(executable)' probe --input - --helo client.test --dns \(world.dns.address) --port \(world.port)",
            ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try objects(run.stdout).map { $0["line"] as? Int }.sorted { ($0 ?? 0) < ($1 ?? 0) } == [1, 2])
        let both = try await runCLI(["probe", "user@ok.test", "--input", "-"])
        #expect(both.status == 64)
        let zero = try await runCLI(["probe", "--input", "-", "--concurrency", "0"])
        #expect(zero.status == 64)
        let missing = try await runCLI(["probe", "--input", "/nonexistent/addresses.txt"])
        #expect(missing.status == 66, "\(missing)")
    }

    @Test("Ctrl-C: what is done is printed, then the summary; exit 130")
    func interrupt() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        // Each slow@ok.test probe takes 2 s at RCPT; two at a time, eight in all.
        let path = try write(
            "user@ok.test\n" + String(repeating: "slow@ok.test\n", count: 8))
        let output = path + ".out"
        let errors = path + ".err"
        defer {
            for file in [path, output, errors] { try? FileManager.default.removeItem(atPath: file) }
        }
        let child = try ChildProcess(
            try directsmtpExecutable().path,
            [
                "probe", "--input", path, "--concurrency", "2", "--helo", "client.test", "--dns",
                "\(world.dns.address)", "--port", "\(world.port)", "--budget", "5",
            ], standardOutput: .file(output), standardError: .file(errors))
        try await Task.sleep(for: .milliseconds(1500))
        child.signal(SIGINT)
        let deadline = ContinuousClock.now + .seconds(10)
        var termination = child.exitIfDone()
        while termination == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            termination = child.exitIfDone()
        }
        if termination == nil { child.signal(SIGKILL) }
        #expect(termination == .exited(130))
        let stdout = try String(contentsOfFile: output, encoding: .utf8)
        let stderr = try String(contentsOfFile: errors, encoding: .utf8)
        #expect(try objects(stdout).contains { $0["line"] as? Int == 1 && $0["reason"] as? String == "accepted" })
        #expect(stderr.contains("interrupted after"), "\(stderr)")
    }
}
