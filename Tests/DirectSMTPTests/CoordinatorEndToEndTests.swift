import DirectSMTP
import DirectSMTPTesting
import SMTPClient
import Testing

/// The six scenarios and the racing and budget cases, through the public API, against the
/// mock DNS and SMTP servers on loopback.
@Suite("Coordinator end to end", .serialized, .timeLimit(.minutes(1)))
struct CoordinatorEndToEndTests {
    @Test(
        "Sends end in DESIGN.md's outcomes",
        arguments: [
            ("user@ok.test", OutcomeReason.accepted, 250),
            ("nobody@ok.test", .recipientRejected, 550),
            ("blocked@ok.test", .senderRejected, 550),
            ("grey@ok.test", .temporaryFailure, 451),
            ("user@nx.test", .noMailServer, 0),
            ("user@nullmx.test", .noMailServer, 0),
            ("user@servfail.test", .dnsUnavailable, 0),
            ("user@down.test", .noReachableHost, 0),
            ("user@refuses.test", .senderRejected, 554),
        ])
    func scenarios(address: String, reason: OutcomeReason, code: Int) async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let coordinator = try world.coordinator()
        let outcome = await coordinator.send(try welcome(address))
        #expect(outcome.reason == reason, "\(outcome.json)")
        #expect(outcome.reply?.code ?? 0 == code)
        #expect(outcome.address == address)
        #expect(outcome.ms < 3000)
        #expect(world.smtp.deliveryCount == (reason == .accepted ? 1 : 0))
        if [.noMailServer, .dnsUnavailable].contains(reason) {
            #expect(outcome.mx == nil)
        } else {
            #expect(outcome.mx != nil)
        }
        if reason == .accepted {
            #expect(outcome.mx?.host == "mx.ok.test")
            #expect(outcome.dnsDuration != nil && outcome.timings[.endOfData] != nil)
            #expect(outcome.transcript.contains { $0.text.hasPrefix("EHLO client.test") })
            #expect(world.smtp.deliveries.first?.to == ["user@ok.test"])
        }
    }

    @Test(
        "Probes: RCPT only, nothing delivered",
        arguments: [
            ("user@ok.test", OutcomeReason.accepted),
            ("nobody@ok.test", .recipientRejected),
            ("blocked@ok.test", .senderRejected),
            ("grey@ok.test", .temporaryFailure),
            ("user@nx.test", .noMailServer),
        ])
    func probes(address: String, reason: OutcomeReason) async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let coordinator = try world.coordinator()
        let outcome = await coordinator.probe(try EmailAddress(address))
        #expect(outcome.reason == reason, "\(outcome.json)")
        #expect(world.smtp.deliveryCount == 0)
        if reason == .accepted {
            #expect(world.smtp.transactions.first?.mailFrom == "postmaster@client.test")
        }
    }

    @Test("Blackholed primary: the backup takes the message after about the stagger delay, once")
    func blackholedPrimary() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let coordinator = try world.coordinator(stagger: .milliseconds(250))
        let outcome = await coordinator.send(try welcome("user@blackhole.test"))
        #expect(outcome.reason == .accepted, "\(outcome.json)")
        #expect(outcome.mx?.host == "mx2.blackhole.test")
        #expect(
            outcome.ms >= 240 && outcome.ms < 250 + slack,
            "took \(outcome.ms) ms, not the 8 s connect timeout")
        #expect(world.smtp.deliveryCount == 1)
    }

    @Test("Primary with a slow greeting: the backup wins the race; one delivery")
    func slowGreeting() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let coordinator = try world.coordinator(stagger: .milliseconds(100))
        let outcome = await coordinator.send(try welcome("user@slowgreeting.test"))
        #expect(outcome.reason == .accepted, "\(outcome.json)")
        #expect(outcome.mx?.ip == "127.0.0.1")
        #expect(outcome.ms < 100 + slack, "not the 8 s greeting timeout")
        #expect(world.smtp.deliveryCount == 1)
    }

    @Test("Both MX hosts down: no-reachable-host within the budget")
    func bothDown() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let coordinator = try world.coordinator()
        let outcome = await coordinator.send(
            try welcome("user@down.test"), budget: .milliseconds(500))
        #expect(outcome.reason == .noReachableHost)
        #expect(outcome.ms < 500 + slack)
        #expect(outcome.exitCode == 75)
    }

    @Test("DNS silent: dns-unavailable within the budget")
    func dnsSilent() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        var configuration = world.configuration()
        configuration.dnsTimeout = .seconds(10)
        let coordinator = try VerificationCoordinator(configuration: configuration)
        let outcome = await coordinator.send(
            try welcome("user@silent.test"), budget: .milliseconds(300))
        #expect(outcome.reason == .dnsUnavailable)
        #expect(
            outcome.ms >= 295 && outcome.ms < 300 + slack,
            "took \(outcome.ms) ms, not the 10 s DNS timeout")
        #expect(outcome.mx == nil)
    }

    @Test(
        "Budget 200 ms, RCPT after 2 s: budget-exceeded at once, the real outcome on the event stream and for this send"
    )
    func budgetExceeded() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let coordinator = try world.coordinator()
        // Warm the DNS cache, so the 200 ms go to the transaction.
        #expect(await coordinator.send(try welcome("user@ok.test")).reason == .accepted)
        let message = try welcome("slow@ok.test")
        let outcome = await coordinator.send(message, budget: .milliseconds(200))
        #expect(outcome.reason == .budgetExceeded, "\(outcome.json)")
        #expect(outcome.ms >= 195 && outcome.ms < 200 + slack, "took \(outcome.ms) ms")
        #expect(outcome.mx?.host == "mx.ok.test")
        let events = coordinator.events
        let final = await coordinator.finalOutcome(for: outcome)
        #expect(final.reason == .accepted)
        #expect(final.ms >= 1900)
        #expect(final.messageID != nil && final.messageID == outcome.messageID)
        let event = try #require(await events.first(within: .seconds(5)))
        #expect(event.outcome.reason == .accepted)
        #expect(event.messageID == final.messageID)
        #expect(world.smtp.deliveryCount == 2)
        #expect(world.smtp.deliveries.last?.to == ["slow@ok.test"])
    }

    @Test("A bad HELO name is refused when the coordinator is made")
    func badHelo() {
        let configuration = VerificationCoordinator.Configuration(heloName: "bad\r\nname")
        #expect(throws: EmailAddressError.self) {
            try VerificationCoordinator(configuration: configuration)
        }
    }
}
