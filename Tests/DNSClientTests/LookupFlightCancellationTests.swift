import DNSClient
import DirectSMTPTesting
import Sockets
import Testing

extension DNSClientTests {
    /// A shared lookup lives only as long as someone waits for it: once its last caller
    /// gives up (deadline or cancellation) it is cancelled, its sockets close, it caches
    /// nothing, and the next caller starts afresh. Callers still waiting are not harmed.
    @Suite
    struct LookupFlightCancellationTests {
        enum Leaving: String, CaseIterable, Sendable {
            case deadline, cancellation
        }

        enum Patience: String, CaseIterable, Sendable {
            /// One server, several attempts: the next attempt must never go out.
            case retries
            /// Two servers, one attempt: the second server must never be asked.
            case nextServer
        }

        /// Asks for `domain` and gives up after about 100 ms, by `leaving`.
        func askAndGiveUp(_ resolver: MXResolver, _ domain: String, by leaving: Leaving)
            async throws -> MXLookup
        {
            switch leaving {
            case .deadline:
                return await resolver.mx(for: domain, deadline: .now + .milliseconds(100))
            case .cancellation:
                let task = Task { await resolver.mx(for: domain) }
                try await Task.sleep(for: .milliseconds(100))
                task.cancel()
                return await task.value
            }
        }

        @Test(arguments: Leaving.allCases, Patience.allCases)
        func theOnlyCallerLeavingCancelsTheLookup(leaving: Leaving, patience: Patience)
            async throws
        {
            try await withMockDNS { first in
                try await withMockDNS { second in
                    for server in [first, second] {
                        server.setBehavior(.silence, for: "gone.example")
                    }
                    // Left alone, the lookup would run 3 x 500 ms (or 2 x 500 ms).
                    let configuration =
                        switch patience {
                        case .retries:
                            ResolverConfiguration(
                                nameservers: [first.address], timeout: .milliseconds(500),
                                attempts: 3)
                        case .nextServer:
                            ResolverConfiguration(
                                nameservers: [first.address, second.address],
                                timeout: .milliseconds(500), attempts: 1)
                        }
                    let resolver = MXResolver(configuration: configuration)
                    let lookup = try await askAndGiveUp(resolver, "gone.example", by: leaving)
                    #expect(lookup.isUnavailable, "\(lookup)")
                    // Promptly: well before the running attempt's own 500 ms are up.
                    let idle = await eventually(within: .milliseconds(200)) { resolver.isIdle }
                    #expect(
                        idle,
                        "lookups \(resolver.lookupsInFlight), queries \(resolver.client.queriesInFlight), sockets \(resolver.client.openSockets)"
                    )
                    // Past the moment the next attempt (or server) would have been asked.
                    try await Task.sleep(for: .milliseconds(600))
                    #expect(first.queryCount(for: "gone.example") == 1)
                    #expect(second.queryCount(for: "gone.example") == 0)
                    #expect(resolver.isIdle)
                }
            }
        }

        @Test(arguments: Leaving.allCases)
        func aCancelledLookupCachesNothingAndTheNextCallerStartsAfresh(leaving: Leaving)
            async throws
        {
            try await withMockDNS { server in
                server.setMailDomain("later.example", [(10, "mx.later.example", ["127.0.0.1"])])
                server.setBehavior(.silence, for: "later.example", type: .mx)
                // A "cannot tell" would be kept a minute: the cancelled lookup's must not.
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(timeout: .seconds(2)),
                    cache: MXCacheOptions(unavailableTTL: .seconds(60)))
                let lookup = try await askAndGiveUp(resolver, "later.example", by: leaving)
                #expect(lookup.isUnavailable, "\(lookup)")
                // Once the cancelled work has wound down, nothing of it is kept.
                #expect(await eventually(within: .milliseconds(200)) { resolver.isIdle })
                #expect(resolver.cachedCount == 0)
                server.setBehavior(.answer, for: "later.example", type: .mx)
                let again = await resolver.mx(for: "later.example", deadline: .now + .seconds(2))
                #expect(again.answer?.hosts.map(\.name) == ["mx.later.example"], "\(again)")
                #expect(server.queryCount(for: "later.example", type: .mx) == 2)
            }
        }

        @Test func aLeaverWhileTheLookupIsCancelledDoesNotStrandTheNextCaller() async throws {
            try await withMockDNS { server in
                server.setMailDomain("again.example", [(10, "mx.again.example", ["127.0.0.1"])])
                server.setBehavior(
                    .delayed(.milliseconds(200), .answer), for: "again.example", type: .mx)
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(timeout: .seconds(2)))
                // Many hasty callers one after another, then a patient one: each finds
                // either a live lookup or starts one, never an abandoned one.
                for _ in 0..<20 {
                    let hasty = await resolver.mx(
                        for: "again.example", deadline: .now + .milliseconds(5))
                    #expect(hasty.isUnavailable)
                }
                let patient = await resolver.mx(
                    for: "again.example", deadline: .now + .seconds(2))
                #expect(patient.answer != nil, "\(patient)")
                #expect(await eventually(within: .milliseconds(200)) { resolver.isIdle })
            }
        }

        @Test(arguments: Leaving.allCases)
        func oneOfTwoCallersLeavingStillAnswersTheOther(leaving: Leaving) async throws {
            try await withMockDNS { server in
                server.setMailDomain("both.example", [(10, "mx.both.example", ["127.0.0.1"])])
                server.setBehavior(
                    .delayed(.milliseconds(400), .answer), for: "both.example", type: .mx)
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(timeout: .seconds(2)))
                let patient = Task {
                    await resolver.mx(for: "both.example", deadline: .now + .seconds(3))
                }
                #expect(
                    await eventually(within: .seconds(1)) {
                        server.queryCount(for: "both.example", type: .mx) == 1
                    })
                let hasty = try await askAndGiveUp(resolver, "both.example", by: leaving)
                #expect(hasty.isUnavailable, "\(hasty)")
                // The shared lookup goes on for the one still waiting.
                #expect(resolver.lookupsInFlight == 1)
                let answer = await patient.value
                #expect(answer.answer?.hosts.map(\.name) == ["mx.both.example"], "\(answer)")
                #expect(server.queryCount(for: "both.example", type: .mx) == 1)
                #expect(await eventually(within: .milliseconds(200)) { resolver.isIdle })
            }
        }

        @Test func everyCallerLeavingOneByOneCancelsOnlyAtTheLast() async throws {
            try await withMockDNS { server in
                server.setBehavior(.silence, for: "many.example")
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(
                        timeout: .milliseconds(500), attempts: 3))
                let callers = (0..<5).map { index in
                    Task {
                        await resolver.mx(
                            for: "many.example",
                            deadline: .now + .milliseconds(60 + 40 * index))
                    }
                }
                for caller in callers.dropLast() { #expect(await caller.value.isUnavailable) }
                // Four have left, one still waits: the lookup runs on.
                #expect(resolver.lookupsInFlight == 1)
                #expect(resolver.client.openSockets == 1)
                #expect(await callers.last!.value.isUnavailable)
                #expect(await eventually(within: .milliseconds(200)) { resolver.isIdle })
                try await Task.sleep(for: .milliseconds(400))
                #expect(server.queryCount(for: "many.example", type: .mx) == 1)
            }
        }
    }
}
