import DirectSMTP
import DirectSMTPTesting
import SMTPClient
import Sockets
import Testing

/// One MX host, `mx.tls.test` on 127.0.0.1, served by a mock SMTP server scripted by each
/// test, and a mock DNS server naming it for `tls.test`.
private final class TLSWorld: Sendable {
    let dns: MockDNSServer
    let smtp: MockSMTPServer

    init(_ change: (inout MockSMTPScript) -> Void) throws {
        var script = MockSMTPScript()
        script.recordsReads = false
        change(&script)
        smtp = try MockSMTPServer.start(script)
        dns = try MockDNSServer.start()
        dns.setMX("tls.test", [(10, "mx.tls.test")])
        dns.setA("mx.tls.test", ["127.0.0.1"])
    }

    func coordinator(
        tls: TLSPolicy = .opportunistic, budget: Duration = .seconds(5), queue: (any QueueStore)? = nil
    ) throws -> VerificationCoordinator {
        var configuration = VerificationCoordinator.Configuration(
            heloName: "client.test", nameservers: [dns.address], smtpPort: smtp.port,
            timeouts: .uniform(.seconds(4)), defaultBudget: budget)
        configuration.dnsAttempts = 1
        configuration.probeCache = .disabled
        configuration.refusesNonPublicAddresses = false
        configuration.tlsPolicy = tls
        configuration.queueStore = queue
        return try VerificationCoordinator(configuration: configuration)
    }

    /// `directsmtp send` to `user@tls.test` through this world.
    var sendArguments: [String] {
        [
            "send", "--to", "user@tls.test", "--from", "app@client.test", "--body", "hi",
            "--helo", "client.test", "--dns", "\(dns.address)", "--port", "\(smtp.port)",
            "--budget", "3",
        ]
    }

    func stop() {
        smtp.stop()
        dns.stop()
    }
}

private func sent(_ commands: [String], _ verb: String) -> Int {
    commands.count { $0.uppercased().hasPrefix(verb) }
}

/// Policies that need no handshake: they hold in a build without the `OpenSSL` trait too.
@Suite("Coordinator TLS policy", .serialized)
struct CoordinatorTLSPolicyTests {
    @Test("Required, no STARTTLS offered: deferred, and nothing past EHLO goes in plaintext",
          arguments: [false, true])
    func requiredNotOffered(perCall: Bool) async throws {
        let world = try TLSWorld { _ in }
        defer { world.stop() }
        let coordinator = try world.coordinator(tls: perCall ? .opportunistic : .required)
        let message = try welcome("user@tls.test")
        let outcome =
            perCall
            ? await coordinator.send(message, tls: .required) : await coordinator.send(message)
        #expect(outcome.status == .deferred && outcome.reason == .noReachableHost, "\(outcome)")
        #expect(outcome.detail?.contains("TLS required") == true, "\(outcome.detail ?? "")")
        #expect(outcome.tls == nil)
        #expect(outcome.json.contains(",\"tls\":null,"))
        #expect(await world.smtp.waitUntilIdle())
        #expect(world.smtp.deliveryCount == 0 && world.smtp.transactions.isEmpty)
        for session in world.smtp.sessions {
            #expect(sent(session.commands, "MAIL") == 0 && sent(session.commands, "DATA") == 0)
        }
    }

    @Test("A queue re-sends with the configured policy: a required send is queued only when the configuration requires TLS")
    func requiredAndTheQueue() async throws {
        let world = try TLSWorld { _ in }
        defer { world.stop() }
        let lenient = try world.coordinator(queue: InMemoryQueueStore())
        let notQueued = await lenient.send(try welcome("user@tls.test"), tls: .required)
        #expect(notQueued.status == .deferred && notQueued.queued == false, "\(notQueued)")
        let strict = try world.coordinator(tls: .required, queue: InMemoryQueueStore())
        let queued = await strict.send(try welcome("user@tls.test"))
        #expect(queued.status == .deferred && queued.queued == true, "\(queued)")
        #expect(world.smtp.deliveryCount == 0)
    }

    @Test("530 on a plaintext session (policy off): deferred, never rejected")
    func tlsDemandedNotTerminal() async throws {
        let world = try TLSWorld {
            $0.offersStartTLS = true
            $0.requiresTLS = true
        }
        defer { world.stop() }
        let coordinator = try world.coordinator(tls: .off)
        let sent = await coordinator.send(try welcome("user@tls.test"))
        #expect(sent.status == .deferred && sent.reason == .temporaryFailure, "\(sent)")
        #expect(sent.reply?.code == 530)
        let probed = await coordinator.probe(try EmailAddress("user@tls.test"))
        #expect(probed.status == .deferred, "\(probed)")
        #expect(!world.smtp.sessions.contains { $0.commands.contains("STARTTLS") })
    }

    @Test("directsmtp send --tls: required defers (exit 75, \"tls\":null); a bad value is exit 64")
    func commandLine() async throws {
        let world = try TLSWorld { _ in }
        defer { world.stop() }
        let base = world.sendArguments + ["--json"]
        let required = try await runCLI(base + ["--tls", "required"])
        #expect(required.status == 75, "\(required)")
        #expect(required.stdout.contains("\"reason\":\"no-reachable-host\""))
        #expect(required.stdout.contains(",\"tls\":null,"), "\(required.stdout)")
        let bad = try await runCLI(base + ["--tls", "always"])
        #expect(bad.status == 64, "\(bad)")
        #expect(bad.stderr.contains("--tls takes opportunistic, required or off"))
        #expect(world.smtp.deliveryCount == 0)
    }
}

#if OpenSSL
@Suite("Coordinator STARTTLS against the mock", .serialized)
struct CoordinatorTLSTests {
    @Test("Opportunistic: sent over TLS, SNI the MX host name, EHLO twice, version and cipher in the outcome")
    func opportunisticSuccess() async throws {
        let world = try TLSWorld { $0.offersStartTLS = true }
        defer { world.stop() }
        let outcome = try await world.coordinator().send(try welcome("user@tls.test"))
        #expect(outcome.status == .accepted, "\(outcome)")
        let tls = try #require(outcome.tls)
        #expect(tls.version == "TLSv1.3" && !tls.cipher.isEmpty)
        #expect(tls.serverName == "mx.tls.test")
        #expect(outcome.phaseTimings.map(\.name).contains("tls"))
        let names = outcome.phaseTimings.map(\.name)
        #expect(names.firstIndex(of: "tls")! == names.firstIndex(of: "ehlo")! + 1, "\(names)")
        #expect(outcome.json.contains(",\"tls\":{\"version\":\"TLSv1.3\",\"cipher\":\""))
        #expect(outcome.transcript.contains { $0.direction == .sent && $0.text == "STARTTLS" })
        #expect(await world.smtp.waitUntilIdle())
        let session = try #require(world.smtp.sessions.first)
        #expect(world.smtp.sessions.count == 1)
        #expect(session.tls?.serverName == "mx.tls.test")
        #expect(sent(session.commands, "EHLO") == 2)
        // Nothing but EHLO and STARTTLS before TLS.
        #expect(session.commandsBeforeTLS == 2 && session.bytesPipelinedAfterStartTLS == 0)
        #expect(world.smtp.deliveryCount == 1)
    }

    @Test("A probe over TLS reports it too")
    func probeOverTLS() async throws {
        let world = try TLSWorld { $0.offersStartTLS = true }
        defer { world.stop() }
        let outcome = try await world.coordinator().probe(try EmailAddress("user@tls.test"))
        #expect(outcome.status == .accepted && outcome.tls?.version == "TLSv1.3", "\(outcome)")
    }

    @Test("454 to STARTTLS: plaintext goes on, on the same connection")
    func refusedStartTLS() async throws {
        let world = try TLSWorld {
            $0.offersStartTLS = true
            $0.startTLS = .reply(454, "4.7.0 TLS not available")
        }
        defer { world.stop() }
        let outcome = try await world.coordinator().send(try welcome("user@tls.test"))
        #expect(outcome.status == .accepted && outcome.tls == nil, "\(outcome)")
        #expect(world.smtp.sessions.count == 1)
    }

    @Test("A failed handshake: plaintext on a new connection within the budget; the next call goes straight to plaintext")
    func handshakeFailureRetriedInPlaintext() async throws {
        let world = try TLSWorld {
            $0.offersStartTLS = true
            $0.tlsHandshake = .fail
        }
        defer { world.stop() }
        let coordinator = try world.coordinator(budget: .seconds(3))
        let first = await coordinator.send(try welcome("user@tls.test"))
        #expect(first.status == .accepted && first.tls == nil, "\(first)")
        #expect(first.elapsed < .seconds(3))
        #expect(first.transcript.contains { $0.text.hasPrefix("<TLS handshake failed") })
        #expect(first.transcript.contains { $0.text.contains("trying again in plaintext") })
        #expect(await world.smtp.waitUntilIdle())
        var sessions = world.smtp.sessions
        #expect(sessions.count == 2)
        #expect(sessions.first?.commands.contains("STARTTLS") == true)
        #expect(sessions.last?.commands.contains("STARTTLS") == false)
        #expect(sessions.first.map { sent($0.commands, "MAIL") } == 0)
        #expect(world.smtp.deliveryCount == 1)

        let second = await coordinator.send(try welcome("user@tls.test"))
        #expect(second.status == .accepted && second.tls == nil, "\(second)")
        #expect(second.transcript.contains { $0.text.contains("failed within the last hour") })
        #expect(await world.smtp.waitUntilIdle())
        sessions = world.smtp.sessions
        #expect(sessions.count == 3)
        #expect(sessions.last?.commands.contains("STARTTLS") == false)

        // A call that requires TLS still tries it (the memory only spares opportunistic calls).
        let required = await coordinator.send(try welcome("user@tls.test"), tls: .required)
        #expect(required.status == .deferred, "\(required)")
        #expect(await world.smtp.waitUntilIdle())
        #expect(world.smtp.sessions.last?.commands.contains("STARTTLS") == true)
        #expect(world.smtp.deliveryCount == 2)
    }

    @Test("A host whose handshake never finishes is not ready: the budget ends the race (no-reachable-host), no plaintext MAIL")
    func notReadyUntilTLS() async throws {
        let world = try TLSWorld {
            $0.offersStartTLS = true
            $0.tlsHandshake = .neverFinish
        }
        defer { world.stop() }
        let outcome = try await world.coordinator(budget: .milliseconds(800)).send(try welcome("user@tls.test"))
        #expect(outcome.status == .deferred && outcome.reason == .noReachableHost, "\(outcome)")
        #expect(outcome.elapsed < .seconds(2))
        try await Task.sleep(for: .milliseconds(200))
        #expect(world.smtp.deliveryCount == 0)
        #expect(!world.smtp.sessions.contains { sent($0.commands, "MAIL") > 0 })
    }

    @Test("Resumption through the coordinator: the second call's session resumes the first one's TLS session")
    func resumesAcrossCalls() async throws {
        let world = try TLSWorld { $0.offersStartTLS = true }
        defer { world.stop() }
        let coordinator = try world.coordinator()
        let first = await coordinator.send(try welcome("user@tls.test"))
        let second = await coordinator.send(try welcome("user@tls.test"))
        #expect(first.tls?.resumed == false && second.tls?.resumed == true, "\(first.tls as Any) \(second.tls as Any)")
        #expect(second.tls?.cipher == "TLS_AES_128_GCM_SHA256")
    }

    @Test("Required and a failed handshake: deferred, no plaintext retry, the message never sent")
    func requiredHandshakeFailure() async throws {
        let world = try TLSWorld {
            $0.offersStartTLS = true
            $0.tlsHandshake = .fail
        }
        defer { world.stop() }
        let outcome = try await world.coordinator(tls: .required).send(try welcome("user@tls.test"))
        #expect(outcome.status == .deferred && outcome.reason == .noReachableHost, "\(outcome)")
        #expect(outcome.tls == nil)
        #expect(await world.smtp.waitUntilIdle())
        #expect(world.smtp.sessions.count == 1)
        let commands = try #require(world.smtp.sessions.first).commands
        #expect(sent(commands, "MAIL") == 0 && world.smtp.deliveryCount == 0, "\(commands)")
    }

    @Test("Bytes injected after the 220 to STARTTLS: that session is aborted, never retried in plaintext")
    func injection() async throws {
        let world = try TLSWorld {
            $0.offersStartTLS = true
            $0.injectedAfterStartTLS = Array("250 2.0.0 injected\r\n".utf8)
        }
        defer { world.stop() }
        let outcome = try await world.coordinator().send(try welcome("user@tls.test"))
        #expect(outcome.status == .deferred, "\(outcome)")
        #expect(await world.smtp.waitUntilIdle())
        #expect(world.smtp.sessions.count == 1 && world.smtp.deliveryCount == 0)
    }

    @Test("530 before STARTTLS on an opportunistic session: TLS first, then accepted")
    func requiresTLSServer() async throws {
        let world = try TLSWorld {
            $0.offersStartTLS = true
            $0.requiresTLS = true
        }
        defer { world.stop() }
        let outcome = try await world.coordinator().send(try welcome("user@tls.test"))
        #expect(outcome.status == .accepted && outcome.tls != nil, "\(outcome)")
    }

    @Test("directsmtp send --tls required over TLS: exit 0, the tls object in JSON, a tls line for people")
    func commandLineOverTLS() async throws {
        let world = try TLSWorld { $0.offersStartTLS = true }
        defer { world.stop() }
        let base = world.sendArguments + ["--tls", "required"]
        let json = try await runCLI(base + ["--json"])
        #expect(json.status == 0, "\(json)")
        #expect(json.stdout.contains(",\"tls\":{\"version\":\"TLSv1.3\",\"cipher\":\""), "\(json.stdout)")
        let human = try await runCLI(base)
        #expect(human.status == 0, "\(human)")
        #expect(human.stdout.contains("  tls:     TLSv1.3 "), "\(human.stdout)")
        #expect(human.stdout.contains(", tls "), "\(human.stdout)")
    }
}
#endif
