import DirectSMTP
import DirectSMTPTesting
import SMTPClient
import Testing

/// Catch-all detection for probes, through the coordinator against the mock servers: a
/// server that accepts everything against one that refuses unknown users; the random RCPT
/// goes in the recipient's pipelined group (no extra write, so no extra round trip); what
/// it finds is cached per domain.
@Suite("Probe: catch-all detection", .serialized, .timeLimit(.minutes(1)))
struct CatchAllTests {
    /// A mock that accepts only `known` (when given) and refuses other recipients as unknown.
    static func world(known: [String]? = nil, pipelining: Bool = true) throws -> OneHostWorld {
        try OneHostWorld.start { script in
            script.pipelining = pipelining
            if let known {
                script.rcpt = .reply(550, "5.1.1 no such user")
                for address in known { script.recipients[address] = .reply(250, "2.1.5 ok") }
            }
        }
    }

    /// A coordinator with a probe cache (600 s positive, 60 s negative) on `clock`.
    static func caching(_ world: OneHostWorld, clock: ManualClock) throws -> VerificationCoordinator {
        var configuration = world.configuration()
        configuration.probeCache = ProbeCachePolicy(positiveTTL: .seconds(600), negativeTTL: .seconds(60))
        configuration.clock = clock.function
        return try VerificationCoordinator(configuration: configuration)
    }

    /// The RCPT commands the mock received.
    static func recipients(_ world: OneHostWorld) -> [String] {
        world.smtp.sessions.flatMap(\.commands).filter { $0.hasPrefix("RCPT TO:") }
    }

    @Test("A server that accepts everything is a catch-all; the random RCPT rides in the same write")
    func acceptsEverything() async throws {
        let world = try Self.world()
        defer { world.stop() }
        let coordinator = try VerificationCoordinator(configuration: world.configuration())
        let outcome = await coordinator.probe(try EmailAddress("jane@hint.test"), catchAll: true)
        #expect(outcome.reason == .accepted && outcome.catchAll == true, "\(outcome.json)")
        #expect(outcome.json.hasSuffix(#","catchAll":true}"#))
        let rcpts = Self.recipients(world)
        try #require(rcpts.count == 2)
        #expect(rcpts[0] == "RCPT TO:<jane@hint.test>")
        #expect(rcpts[1].hasSuffix("@hint.test>") && rcpts[1] != rcpts[0])
        // One read held MAIL, both RCPTs and RSET: the client wrote them at once.
        let group = world.smtp.sessions.flatMap(\.readTexts).filter { $0.contains("MAIL FROM") }
        #expect(group.count == 1 && group.first?.components(separatedBy: "RCPT TO:").count == 3)
        #expect(group.first?.hasSuffix("RSET\r\n") == true)
    }

    @Test("A server that refuses unknown users is not a catch-all")
    func refusesUnknownUsers() async throws {
        let world = try Self.world(known: ["jane@hint.test"])
        defer { world.stop() }
        let coordinator = try VerificationCoordinator(configuration: world.configuration())
        let known = await coordinator.probe(try EmailAddress("jane@hint.test"), catchAll: true)
        #expect(known.reason == .accepted && known.catchAll == false, "\(known.json)")
        let unknown = await coordinator.probe(try EmailAddress("nobody@hint.test"), catchAll: true)
        #expect(unknown.reason == .recipientRejected && unknown.catchAll == false, "\(unknown.json)")
    }

    @Test("Not asked: no random RCPT, catchAll null")
    func notAsked() async throws {
        let world = try Self.world()
        defer { world.stop() }
        let coordinator = try VerificationCoordinator(configuration: world.configuration())
        let outcome = await coordinator.probe(try EmailAddress("jane@hint.test"))
        #expect(outcome.reason == .accepted && outcome.catchAll == nil)
        #expect(outcome.json.hasSuffix(#","catchAll":null}"#))
        #expect(Self.recipients(world) == ["RCPT TO:<jane@hint.test>"])
    }

    @Test("Without PIPELINING the test would cost a round trip: not made, unknown")
    func withoutPipelining() async throws {
        let world = try Self.world(pipelining: false)
        defer { world.stop() }
        let coordinator = try VerificationCoordinator(configuration: world.configuration())
        let outcome = await coordinator.probe(try EmailAddress("jane@hint.test"), catchAll: true)
        #expect(outcome.reason == .accepted && outcome.catchAll == nil, "\(outcome.json)")
        #expect(Self.recipients(world) == ["RCPT TO:<jane@hint.test>"])
    }

    @Test("Cached per domain with the probe cache's lifetimes: no second random RCPT until it ends")
    func cachedPerDomain() async throws {
        let world = try Self.world()
        defer { world.stop() }
        let clock = ManualClock()
        let coordinator = try Self.caching(world, clock: clock)
        let first = await coordinator.probe(try EmailAddress("jane@hint.test"), catchAll: true)
        #expect(first.catchAll == true && Self.recipients(world).count == 2)
        // Another address of the domain: asked live (not cached), but no random RCPT.
        let second = await coordinator.probe(try EmailAddress("john@hint.test"), catchAll: true)
        #expect(second.catchAll == true && !second.fromCache)
        #expect(Self.recipients(world).count == 3)
        // The first address again: the cache answers, catch-all included.
        let cached = await coordinator.probe(try EmailAddress("jane@hint.test"), catchAll: true)
        #expect(cached.fromCache && cached.catchAll == true)
        // Not asked: a cached answer says nothing about it.
        #expect(await coordinator.probe(try EmailAddress("jane@hint.test")).catchAll == nil)
        #expect(Self.recipients(world).count == 3)
        // A catch-all lives as long as an accepted probe: then it is tested again.
        clock.advance(by: .seconds(601))
        let later = await coordinator.probe(try EmailAddress("jane@hint.test"), catchAll: true)
        #expect(later.catchAll == true && !later.fromCache)
        #expect(Self.recipients(world).count == 5)
    }

    @Test("A domain that refuses unknown users is remembered for the negative lifetime")
    func negativeLifetime() async throws {
        let world = try Self.world(known: ["jane@hint.test", "john@hint.test"])
        defer { world.stop() }
        let clock = ManualClock()
        let coordinator = try Self.caching(world, clock: clock)
        #expect(await coordinator.probe(try EmailAddress("jane@hint.test"), catchAll: true).catchAll == false)
        #expect(await coordinator.probe(try EmailAddress("john@hint.test"), catchAll: true).catchAll == false)
        #expect(Self.recipients(world).count == 3)
        clock.advance(by: .seconds(61))
        #expect(await coordinator.probe(try EmailAddress("john@hint.test"), catchAll: true).catchAll == false)
        #expect(Self.recipients(world).count == 5, "tested again once the negative lifetime ended")
    }
}
