import DirectSMTPTesting
import Sockets
import Testing

@testable import DirectSMTP

/// The racing rules of DESIGN.md, against fake servers with controlled delays.
@Suite("MX race", .timeLimit(.minutes(1)))
struct MXRaceTests {
    @Test("A zone listing more addresses than the limit gets only the first ones dialled")
    func addressLimit() async {
        // 25 hosts, every one refusing at once: without a limit all 25 would be dialled
        // (a hostile zone may list thousands, on every call and every retry).
        let hosts = (1...25).map { (preference: $0, ip: "127.0.1.\($0)") }
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: hosts),
            servers: Dictionary(uniqueKeysWithValues: hosts.map { ($0.ip, FakeServer.refusing()) }))
        #expect(engine.settings.mxAddressLimit == 10)
        let outcome = await engine.send()
        #expect(outcome.reason == .noReachableHost)
        #expect(engine.dialer.snapshot.opened == hosts.prefix(10).map(\.ip))
    }

    @Test("A healthy primary wins alone: the backup is never dialled")
    func primaryWins() async {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11"), (20, "127.0.0.12")]),
            servers: ["127.0.0.11": .healthy, "127.0.0.12": .healthy])
        let outcome = await engine.send()
        #expect(outcome.reason == .accepted)
        #expect(
            outcome.mx
                == MailExchangerUsed(host: "mx1.example.com", ip: "127.0.0.11", preference: 10))
        #expect(outcome.reply?.code == 250)
        #expect(engine.dialer.snapshot.opened == ["127.0.0.11"])
        #expect(engine.dialer.snapshot.transactions == ["127.0.0.11"])
    }

    @Test(
        "Blackholed primary: the backup starts after the stagger delay and wins; the primary is closed"
    )
    func blackholedPrimary() async throws {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11"), (20, "127.0.0.12")]),
            servers: ["127.0.0.11": .blackholed, "127.0.0.12": .healthy],
            stagger: .milliseconds(100))
        let outcome = await engine.send()
        #expect(outcome.reason == .accepted)
        #expect(outcome.mx?.ip == "127.0.0.12")
        #expect(outcome.ms >= 95 && outcome.ms < 100 + slack, "took \(outcome.ms) ms")
        let log = engine.dialer.snapshot
        #expect(log.transactions == ["127.0.0.12"])
        let gap = try #require(log.openStarts["127.0.0.11"]).duration(
            to: try #require(log.openStarts["127.0.0.12"]))
        #expect(gap >= .milliseconds(95) && gap < .milliseconds(Int64(slack)))
        // The loser is closed by the attempt's clean-up, which may run just after the
        // answer (a sanitizer build showed it late): wait for it, bounded.
        let closed = await QueueTestSupport.eventually(timeout: TimingScale.scaled(.seconds(1))) {
            let closed = engine.dialer.snapshot.closed
            return closed.contains("127.0.0.11") && closed.contains("127.0.0.12")
        }
        #expect(closed, "closed: \(engine.dialer.snapshot.closed)")
        #expect(
            outcome.transcript.contains {
                $0.direction == .note && $0.server.hasPrefix("127.0.0.11")
            })
    }

    @Test("A refused primary starts the backup at once, not after the stagger delay")
    func refusedPrimary() async {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11"), (20, "127.0.0.12")]),
            servers: ["127.0.0.11": .refusing(), "127.0.0.12": .healthy],
            stagger: .seconds(10))
        let outcome = await engine.send()
        #expect(outcome.reason == .accepted)
        #expect(outcome.mx?.ip == "127.0.0.12")
        #expect(outcome.ms < slack, "took \(outcome.ms) ms, not the 10 s stagger")
    }

    @Test("A slow greeting loses to the backup; exactly one transaction")
    func slowGreeting() async {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11"), (20, "127.0.0.12")]),
            servers: [
                "127.0.0.11": FakeServer(openDelay: .milliseconds(1500)), "127.0.0.12": .healthy,
            ],
            stagger: .milliseconds(100))
        let outcome = await engine.send()
        #expect(outcome.mx?.ip == "127.0.0.12")
        // Give the loser time to finish had it not been cancelled: it must never transact.
        try? await Task.sleep(for: .milliseconds(1600))
        #expect(engine.dialer.snapshot.transactions == ["127.0.0.12"])
    }

    @Test("Two sessions ready at once: only one transaction, the other closed")
    func simultaneousWinners() async {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11"), (10, "127.0.0.12"), (10, "127.0.0.13")]),
            servers: [
                "127.0.0.11": FakeServer(openDelay: .milliseconds(60)),
                "127.0.0.12": FakeServer(openDelay: .milliseconds(30)),
                "127.0.0.13": FakeServer(openDelay: .milliseconds(1)),
            ],
            stagger: .milliseconds(15))
        let outcome = await engine.send()
        #expect(outcome.reason == .accepted)
        try? await Task.sleep(for: .milliseconds(100))
        let log = engine.dialer.snapshot
        #expect(log.transactions.count == 1)
        #expect(Set(log.closed) == Set(log.opened))
    }

    @Test("Every host answering 5xx at greeting/EHLO: sender-rejected with the last reply")
    func allRefuseUs() async {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11"), (20, "127.0.0.12")]),
            servers: [
                "127.0.0.11": .refusing(.senderRejected, code: 554),
                "127.0.0.12": .refusing(.senderRejected, code: 550),
            ])
        let outcome = await engine.send()
        #expect(outcome.reason == .senderRejected)
        #expect(outcome.reply?.code == 550)
        #expect(outcome.mx?.ip == "127.0.0.12")
        #expect(engine.dialer.snapshot.transactions.isEmpty)
    }

    @Test("One 5xx and one unreachable host: no-reachable-host, not sender-rejected")
    func mixedFailures() async {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11"), (20, "127.0.0.12")]),
            servers: [
                "127.0.0.11": .refusing(.senderRejected, code: 554),
                "127.0.0.12": .refusing(.unreachable, code: 421),
            ])
        let outcome = await engine.send()
        #expect(outcome.reason == .noReachableHost)
        #expect(outcome.status == .deferred)
        #expect(outcome.exitCode == 75)
    }

    @Test(
        "A reply inside the transaction is the verdict: no fishing at the backup",
        arguments: [
            (
                FakeServer.answering(550, "5.1.1", verdict: .recipientRejected),
                OutcomeReason.recipientRejected
            ),
            (FakeServer.answering(550, "5.7.1", verdict: .senderRejected), .senderRejected),
            (FakeServer.answering(450, "4.2.0", verdict: .temporaryFailure), .temporaryFailure),
            (FakeServer.answering(553, nil, at: .mail, verdict: .senderRejected), .senderRejected),
            (FakeServer.answering(250, "2.0.0", at: .endOfData, verdict: .accepted), .accepted),
        ])
    func transactionVerdicts(server: FakeServer, reason: OutcomeReason) async {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11"), (20, "127.0.0.12")]),
            servers: ["127.0.0.11": server, "127.0.0.12": .healthy])
        let outcome = await engine.send()
        #expect(outcome.reason == reason)
        #expect(outcome.mx?.ip == "127.0.0.11")
        #expect(outcome.reply == server.transactionResult.reply)
        #expect(engine.dialer.snapshot.opened == ["127.0.0.11"])
    }

    @Test(
        "DNS answers decide scenarios 1 and 3 without dialling",
        arguments: [
            (MailExchangerLookupResult.dnsUnavailable("SERVFAIL"), OutcomeReason.dnsUnavailable),
            (.noMailServer("null MX"), .noMailServer),
            (.found([]), .noMailServer),
        ])
    func dnsOutcomes(answer: MailExchangerLookupResult, reason: OutcomeReason) async {
        let engine = FakeEngine(lookup: FakeLookup(answer), servers: [:])
        let outcome = await engine.send()
        #expect(outcome.reason == reason)
        #expect(outcome.mx == nil)
        #expect(engine.dialer.snapshot.opened.isEmpty)
        #expect(outcome.dnsDuration != nil || reason == .noMailServer)
    }

    @Test("An address literal skips DNS")
    func addressLiteral() async throws {
        let lookup = FakeLookup(.dnsUnavailable("must not be asked"))
        let engine = FakeEngine(lookup: lookup, servers: ["127.0.0.9": .healthy])
        let outcome = await engine.send("user@[127.0.0.9]")
        #expect(outcome.reason == .accepted)
        #expect(
            outcome.mx == MailExchangerUsed(host: "[127.0.0.9]", ip: "127.0.0.9", preference: 0))
        #expect(lookup.calls.load(ordering: .relaxed) == 0)
        // The address the attempt dials is the one EmailAddress parsed.
        #expect(try EmailAddress("u@[IPv6:::1]").literalAddress == IPAddress("::1"))
        #expect(try EmailAddress("u@[ipv6:2001:db8::1]").literalAddress == IPAddress("2001:db8::1"))
        #expect(try EmailAddress("u@[IPV6:::1]").literalAddress == IPAddress("::1"))
        #expect(try EmailAddress("u@[192.0.2.1]").literalAddress == IPAddress("192.0.2.1"))
        #expect((try? EmailAddress("u@[IPv7:::1]")) == nil)
        #expect((try? EmailAddress("u@[::1]")) == nil)
        #expect(try EmailAddress("u@example.com").literalAddress == nil)
    }

    @Test("Health memory: a blackholed primary is tried last for a while, then first again")
    func healthMemory() async {
        let clock = ManualClock()
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11"), (20, "127.0.0.12")]),
            servers: ["127.0.0.11": .blackholed, "127.0.0.12": .healthy],
            stagger: .milliseconds(100), healthPenalty: .seconds(30), clock: clock)
        let first = await engine.send()
        #expect(first.mx?.ip == "127.0.0.12")
        #expect(first.ms >= 95)
        #expect(engine.health.isUnhealthy("127.0.0.11"))
        #expect(engine.dialer.snapshot.opened == ["127.0.0.11", "127.0.0.12"])
        let second = await engine.send()
        #expect(second.mx?.ip == "127.0.0.12")
        #expect(
            engine.dialer.snapshot.opened.dropFirst(2).first == "127.0.0.12",
            "the backup went first")
        clock.advance(by: .seconds(31))
        #expect(!engine.health.isUnhealthy("127.0.0.11"))
        let before = engine.dialer.snapshot.opened.count
        let third = await engine.send()
        #expect(third.mx?.ip == "127.0.0.12")
        #expect(
            engine.dialer.snapshot.opened.dropFirst(before).first == "127.0.0.11",
            "the primary was tried first again")
    }

    @Test(
        "MX hosts that cannot be dialled (a bad SMTP port setting): deferred, never no-mail-server")
    func undialableIsNotNoMailServer() async {
        var settings = EngineSettings()
        settings.smtpPort = 70_000
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
            dialer: FakeDialer(["127.0.0.11": .healthy]), settings: settings)
        let outcome = await engine.send()
        #expect(outcome.reason == .noReachableHost, "\(outcome.json)")
        #expect(outcome.status == .deferred)
        #expect(outcome.detail?.contains("70000") == true)
    }

    @Test("Health memory full of fresh penalties stays bounded and sweeps itself rarely")
    func healthMemoryBounded() {
        let clock = ManualClock()
        let memory = HostHealthMemory(penalty: .seconds(60), capacity: 80, clock: clock.function)
        for index in 0..<800 {
            memory.markUnhealthy("10.0.\(index / 256).\(index % 256)")
            #expect(memory.count <= 80)
        }
        #expect(memory.isUnhealthy("10.0.3.31"), "the newest is kept")
        #expect(memory.sweeps <= 800 / 10, "\(memory.sweeps) sweeps of the whole table")
    }
}
