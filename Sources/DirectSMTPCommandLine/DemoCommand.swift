import DNSClient
import DirectSMTP
import DirectSMTPTesting
import SMTPClient
import Sockets

/// `directsmtp demo`: the whole library on loopback only. It starts the in-process mock
/// DNS and SMTP servers (and a blackholed MX host on 127.0.0.2), sends one message for
/// each of the six scenarios, plus greylisting and a blackholed primary MX that forces
/// the race to the backup, and prints a table. No traffic leaves 127.0.0.0/8.
enum DemoCommand {
    private struct Case {
        var scenario: String
        var address: String
        var expected: OutcomeReason
    }

    private static let cases: [Case] = [
        Case(
            scenario: "1 DNS down (SERVFAIL)", address: "jane@dns-down.demo",
            expected: .dnsUnavailable),
        Case(
            scenario: "2 no MX host reachable", address: "jane@unreachable.demo",
            expected: .noReachableHost),
        Case(
            scenario: "3 domain has null MX", address: "jane@null-mx.demo", expected: .noMailServer),
        Case(
            scenario: "4 server refuses us (5.7.1)", address: "blocked@example.demo",
            expected: .senderRejected),
        Case(
            scenario: "5 no such user (5.1.1)", address: "nobody@example.demo",
            expected: .recipientRejected),
        Case(scenario: "6 accepted", address: "jane@example.demo", expected: .accepted),
        Case(
            scenario: "2 greylisted (4.7.1)", address: "grey@example.demo",
            expected: .temporaryFailure),
        Case(
            scenario: "6 primary MX blackholed", address: "jane@blackhole.demo", expected: .accepted
        ),
    ]

    static func run(_ rawArguments: [String]) async -> Int32 {
        let json: Bool
        do {
            json = try Arguments(rawArguments, valueFlags: [], switches: ["--json"]).has("--json")
        } catch {
            printError("directsmtp demo: \(error.description)")
            return ExitCode.usage
        }
        let world: DemoWorld
        do {
            world = try await DemoWorld.start()
        } catch {
            printError("directsmtp demo: cannot start the loopback servers: \(error)")
            return ExitCode.software
        }
        defer { world.stop() }
        var configuration = VerificationCoordinator.Configuration(
            heloName: "demo.client.test", nameservers: [world.dns.address],
            smtpPort: world.smtp.port)
        configuration.dnsTimeout = .milliseconds(500)
        configuration.dnsAttempts = 1
        configuration.refusesNonPublicAddresses = false  // the demo's servers are on loopback
        let coordinator: VerificationCoordinator
        do {
            coordinator = try VerificationCoordinator(configuration: configuration)
        } catch {
            printError("directsmtp demo: \(error)")
            return ExitCode.software
        }
        if !json {
            print(
                "DirectSMTP demo: mock DNS at \(world.dns.address), mock SMTP on port \(world.smtp.port) of 127.0.0.1, a blackholed MX at 127.0.0.2; budget 3 s, stagger 250 ms"
            )
            print("")
        }
        var rows: [[String]] = [
            ["scenario", "address", "outcome", "reason", "deciding reply", "elapsed ms"]
        ]
        var surprises = 0
        for demoCase in cases {
            let message: Message
            do {
                message = Message(
                    from: try EmailAddress("signup@app.demo"),
                    to: try EmailAddress(demoCase.address),
                    subject: "Your verification code: 314159",
                    text: "Welcome! Your code is 314159.\n")
            } catch {
                printError("directsmtp demo: \(error)")
                return ExitCode.software
            }
            let outcome = await coordinator.send(message)
            if outcome.reason != demoCase.expected { surprises += 1 }
            if json {
                print(outcome.json)
                continue
            }
            let reply =
                outcome.reply.map {
                    "\($0.code)\($0.enhancedCode.map { " " + $0 } ?? "") \($0.text.replacingNewlines)"
                }
                ?? outcome.detail.map { "(\($0))" } ?? "-"
            rows.append([
                demoCase.scenario, demoCase.address, outcome.status.rawValue,
                outcome.reason.rawValue,
                reply.count > 50 ? reply.prefix(49) + "…" : reply,
                OutcomeOutput.milliseconds(outcome.elapsed).replacingOccurrences(" ms", ""),
            ])
        }
        if !json {
            printTable(rows)
            print("")
            print(
                "messages delivered to the mock server: \(world.smtp.deliveryCount) (expected 2, each exactly once)"
            )
            if surprises > 0 { print("\(surprises) outcome(s) differed from the expected ones") }
        }
        return surprises == 0 && world.smtp.deliveryCount == 2 ? 0 : ExitCode.software
    }

    private static func printTable(_ rows: [[String]]) {
        var widths = [Int](repeating: 0, count: rows[0].count)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        for (number, row) in rows.enumerated() {
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1
                    ? String(repeating: " ", count: widths[index] - cell.count) + cell
                    : cell + String(repeating: " ", count: widths[index] - cell.count)
            }
            print(cells.joined(separator: "  "))
            if number == 0 {
                print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
            }
        }
    }
}

extension String {
    fileprivate func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

/// The demo's loopback world: mock DNS, mock SMTP on 127.0.0.1, a blackholed host on
/// 127.0.0.2 at the same port (a backlog-0 listener whose only slot a filler holds, so
/// connects hang as to a dead host), and nothing at all on 127.0.0.5/.6.
private struct DemoWorld {
    let dns: MockDNSServer
    let smtp: MockSMTPServer
    let blackhole: TCPListener
    let filler: TCPConnection?

    static func start() async throws -> DemoWorld {
        var script = MockSMTPScript()
        script.recipients["nobody@example.demo"] = .reply(550, "5.1.1 no such user here")
        script.recipients["blocked@example.demo"] = .reply(550, "5.7.1 rejected by local policy")
        script.recipients["grey@example.demo"] = .reply(
            451, "4.7.1 greylisted, please try again later")
        script.recordsReads = false
        let smtp = try MockSMTPServer.start(script)
        let dns = try MockDNSServer.start()
        let blackholeAddress = try SocketAddress(ip: "127.0.0.2", port: smtp.port)
        let blackhole = try TCPListener.bind(to: blackholeAddress, backlog: 0)
        let filler = try? await TCPConnection.connect(
            to: blackholeAddress, deadline: .now + .milliseconds(300))
        dns.setBehavior(.servfail, for: "dns-down.demo")
        dns.setMX("unreachable.demo", [(10, "mx1.unreachable.demo"), (20, "mx2.unreachable.demo")])
        dns.setA("mx1.unreachable.demo", ["127.0.0.5"])
        dns.setA("mx2.unreachable.demo", ["127.0.0.6"])
        dns.setNullMX("null-mx.demo")
        dns.setMX("example.demo", [(10, "mx.example.demo")])
        dns.setA("mx.example.demo", ["127.0.0.1"])
        dns.setMX("blackhole.demo", [(10, "mx1.blackhole.demo"), (20, "mx2.blackhole.demo")])
        dns.setA("mx1.blackhole.demo", ["127.0.0.2"])
        dns.setA("mx2.blackhole.demo", ["127.0.0.1"])
        return DemoWorld(dns: dns, smtp: smtp, blackhole: blackhole, filler: filler)
    }

    func stop() {
        filler?.close()
        blackhole.close()
        smtp.stop()
        dns.stop()
    }
}
