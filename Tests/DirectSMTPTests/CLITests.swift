import ChildProcess
import Foundation
import Testing

/// The `directsmtp` executable, run as a script would: exit codes and JSON per scenario,
/// against the mock servers (started in this process) on loopback.
@Suite("directsmtp probe/send/demo", .serialized, .timeLimit(.minutes(1)))
struct CLITests {
    @Test(
        "send: exit code and JSON per scenario",
        arguments: [
            ("user@ok.test", Int32(0), "accepted", 6, "accepted"),
            ("nobody@ok.test", 67, "rejected", 5, "recipient-rejected"),
            ("blocked@ok.test", 69, "rejected", 4, "sender-rejected"),
            ("grey@ok.test", 75, "deferred", 2, "temporary-failure"),
            ("user@nullmx.test", 68, "rejected", 3, "no-mail-server"),
            ("user@servfail.test", 75, "deferred", 1, "dns-unavailable"),
            ("user@down.test", 75, "deferred", 2, "no-reachable-host"),
        ])
    func send(address: String, exit: Int32, outcome: String, scenario: Int, reason: String)
        async throws
    {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let run = try await runCLI([
            "send", "--to", address, "--from", "app@client.test", "--subject", "Welcome",
            "--body", "Your code is 123456.", "--helo", "client.test", "--dns",
            "\(world.dns.address)",
            "--port", "\(world.port)", "--budget", "3", "--json",
        ])
        #expect(run.status == exit, "\(run)")
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["outcome"] as? String == outcome)
        #expect(object["scenario"] as? Int == scenario)
        #expect(object["reason"] as? String == reason)
        #expect(object["address"] as? String == address)
        #expect(object["queued"] as? Bool == false)
        #expect(object["elapsedMs"] is Double || object["elapsedMs"] is Int)
        #expect(object["timings"] is [String: Any])
        #expect(
            Array(
                run.stdout.split(separator: "\"").enumerated().filter { $0.offset % 2 == 1 }.map(
                    \.element
                ).prefix(1)) == ["outcome"])
        #expect(world.smtp.deliveryCount == (exit == 0 ? 1 : 0))
    }

    @Test(
        "probe: exit code, human output, nothing delivered",
        arguments: [
            (
                "user@ok.test", Int32(0),
                "accepted (accepted, scenario 6): user@ok.test via mx.ok.test [127.0.0.1]"
            ),
            ("nobody@ok.test", 67, "rejected (recipient-rejected, scenario 5)"),
        ])
    func probe(address: String, exit: Int32, headline: String) async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let run = try await runCLI([
            "probe", address, "--helo", "client.test", "--dns", "\(world.dns.address)", "--port",
            "\(world.port)", "--verbose",
        ])
        #expect(run.status == exit, "\(run)")
        #expect(run.stdout.hasPrefix(headline), "\(run.stdout)")
        if exit != 68 {
            #expect(run.stdout.contains("C: RCPT TO:<\(address)>"), "verbose prints the transcript")
        }
        #expect(world.smtp.deliveryCount == 0)
    }

    @Test("send whose budget ends mid-transaction: the deferred line at once, the final one last")
    func budgetThenFinal() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let run = try await runCLI([
            "send", "--to", "slow@ok.test", "--from", "app@client.test", "--helo", "client.test",
            "--dns", "\(world.dns.address)", "--port", "\(world.port)", "--budget", "0.5", "--json",
        ])
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2, "\(run)")
        #expect(lines.first?.contains(#""reason":"budget-exceeded""#) == true)
        #expect(lines.last?.contains(#""reason":"accepted""#) == true)
        #expect(run.status == 0)
        #expect(world.smtp.deliveryCount == 1)
    }

    @Test("send, human output: the deferred verdict first, the final outcome last, its exit code")
    func budgetThenFinalHuman() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let run = try await runCLI([
            "send", "--to", "slow@ok.test", "--from", "app@client.test", "--helo", "client.test",
            "--dns", "\(world.dns.address)", "--port", "\(world.port)", "--budget", "0.5",
        ])
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.hasPrefix("deferred (budget-exceeded, scenario 2): slow@ok.test"))
        let final = try #require(
            run.stdout.range(of: "accepted (accepted, scenario 6): slow@ok.test"))
        #expect(run.stdout[final.upperBound...].contains("reply:   250"))
        #expect(run.stdout[..<final.lowerBound].contains("the transaction goes on"))
        #expect(world.smtp.deliveryCount == 1)
    }

    @Test(
        "send --queue: a greylisted message is queued (JSON queued: true); queue run re-sends it once"
    )
    func queueRoundTrip() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "directsmtp-cli-\(UUID().uuidString).journal"
        ).path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let sent = try await runCLI([
            "send", "--to", "grey@ok.test", "--from", "app@client.test", "--helo", "client.test",
            "--dns", "\(world.dns.address)", "--port", "\(world.port)", "--queue", path, "--json",
        ])
        #expect(sent.status == 75, "\(sent)")
        #expect(
            sent.stdout.contains(
                #""reason":"temporary-failure","address":"grey@ok.test","queued":true"#))
        world.smtp.update { $0.recipients["grey@ok.test"] = nil }
        let retried = try await runCLI([
            "queue", "run", "--queue", path, "--all", "--dns", "\(world.dns.address)", "--port",
            "\(world.port)",
        ])
        #expect(retried.status == 0, "\(retried)")
        #expect(world.smtp.deliveryCount == 1)
    }

    @Test(
        "Usage errors exit 64 before any traffic",
        arguments: [
            ["probe"],
            ["probe", "a@b.test\r\nRCPT TO:<x@y.test>"],
            ["probe", "a@b.test", "--port", "0"],
            ["probe", "a@b.test", "--dns", "dns.google:53"],
            ["probe", "a@b.test", "--helo", "bad name"],
            ["send", "--to", "a@b.test"],
            [
                "send", "--to", "a@b.test", "--from", "c@d.test", "--body", "x", "--body-file",
                "/dev/null",
            ],
        ])
    func usage(arguments: [String]) async throws {
        let run = try await runCLI(arguments)
        #expect(run.status == 64, "\(run)")
        #expect(run.stdout.isEmpty)
        #expect(!run.stderr.isEmpty)
    }

    @Test("demo: the table of every scenario, in a few seconds, exit 0")
    func demo() async throws {
        let start = ContinuousClock.now
        let run = try await runCLI(["demo"])
        #expect(run.status == 0, "\(run)")
        for reason in [
            "dns-unavailable", "no-reachable-host", "no-mail-server", "sender-rejected",
            "recipient-rejected", "accepted", "temporary-failure",
        ] {
            #expect(run.stdout.contains(reason))
        }
        #expect(run.stdout.contains("jane@blackhole.demo"))
        #expect(start.duration(to: .now) < .seconds(10))
    }
}

struct CLIRun: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// The built `directsmtp`, found next to the test bundle in the build folder.
func directsmtpExecutable() throws -> URL {
    var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = folder.appendingPathComponent("directsmtp")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        folder = folder.deletingLastPathComponent()
    }
    throw CLIError(
        description:
            "directsmtp not found near \(CommandLine.arguments[0]); run `swift build` first")
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
}

/// Runs `directsmtp` with `arguments` at a low CPU priority (the socket suites beside it
/// time deadlines), killing it after `limit`.
func runCLI(_ arguments: [String], limit: Duration = .seconds(20)) async throws -> CLIRun {
    let run = try await ChildProcess.run(
        try directsmtpExecutable().path, arguments, limit: limit, lowPriority: true)
    return CLIRun(status: run.status, stdout: run.stdout, stderr: run.stderr)
}
