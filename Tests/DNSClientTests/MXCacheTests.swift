import DNSClient
import DirectSMTPTesting
import Sockets
import Testing

extension DNSClientTests {
    /// Caching, negative caching, expiry by a manual clock, bounds and coalescing.
    @Suite
    struct MXCacheTests {
        func serve(_ server: MockDNSServer, _ domain: String, ttl: UInt32 = 300) {
            server.setMX(domain, [(10, "mx.\(domain)")], ttl: ttl)
            server.setA("mx.\(domain)", ["127.0.0.1"], ttl: ttl)
        }

        @Test func secondLookupMakesNoQuery() async throws {
            try await withMockDNS { server in
                serve(server, "cached.example")
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                let first = await resolver.mx(for: "cached.example")
                let queries = server.totalQueryCount
                #expect(queries == 3)  // MX, A, AAAA
                let second = await resolver.mx(for: "CACHED.example.")
                #expect(first == second)
                #expect(server.totalQueryCount == queries)
            }
        }

        @Test func entriesExpireAfterTheSmallestTTL() async throws {
            try await withMockDNS { server in
                server.setMX("ttl.example", [(10, "mx.ttl.example")], ttl: 600)
                server.setA("mx.ttl.example", ["127.0.0.1"], ttl: 60)
                let clock = ManualClock()
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(), now: clock.now)
                _ = await resolver.mx(for: "ttl.example")
                clock.advance(by: .seconds(59))
                _ = await resolver.mx(for: "ttl.example")
                #expect(server.queryCount(for: "ttl.example", type: .mx) == 1)
                clock.advance(by: .seconds(2))
                _ = await resolver.mx(for: "ttl.example")
                #expect(server.queryCount(for: "ttl.example", type: .mx) == 2)
            }
        }

        @Test func positiveTTLsAreCappedAtADay() async throws {
            try await withMockDNS { server in
                serve(server, "forever.example", ttl: 30 * 86_400)
                // Both families: a NODATA for AAAA would bound the answer by its SOA TTL.
                server.setAAAA("mx.forever.example", ["::1"], ttl: 30 * 86_400)
                let clock = ManualClock()
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(), now: clock.now)
                _ = await resolver.mx(for: "forever.example")
                clock.advance(by: .seconds(86_399))
                _ = await resolver.mx(for: "forever.example")
                #expect(server.queryCount(for: "forever.example", type: .mx) == 1)
                clock.advance(by: .seconds(2))
                _ = await resolver.mx(for: "forever.example")
                #expect(server.queryCount(for: "forever.example", type: .mx) == 2)
            }
        }

        @Test(arguments: [(UInt32(300), UInt32(30)), (UInt32(20), UInt32(900))])
        func negativeAnswersAreCachedForTheSOAMinimum(soaTTL: UInt32, minimum: UInt32) async throws
        {
            try await withMockDNS { server in
                server.setNegativeTTL(soaTTL: soaTTL, minimum: minimum)
                server.setNXDOMAIN("missing.example")
                let clock = ManualClock()
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(), now: clock.now)
                let limit = Int64(min(soaTTL, minimum))
                #expect(
                    await resolver.mx(for: "missing.example") == .noMailServer(.nonExistentDomain))
                clock.advance(by: .seconds(limit - 1))
                #expect(
                    await resolver.mx(for: "missing.example") == .noMailServer(.nonExistentDomain))
                #expect(server.queryCount(for: "missing.example") == 1)
                clock.advance(by: .seconds(2))
                _ = await resolver.mx(for: "missing.example")
                #expect(server.queryCount(for: "missing.example") == 2)
            }
        }

        @Test func unavailableIsNotCachedByDefault() async throws {
            try await withMockDNS { server in
                server.setBehavior(.servfail, for: "down.example")
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                #expect(await resolver.mx(for: "down.example").isUnavailable)
                #expect(await resolver.mx(for: "down.example").isUnavailable)
                #expect(server.queryCount(for: "down.example", type: .mx) == 2)
                // The server recovers: the next lookup sees it at once.
                server.setBehavior(.answer, for: "down.example")
                serve(server, "down.example")
                #expect(await resolver.mx(for: "down.example").answer != nil)
            }
        }

        @Test func unavailableCachedBrieflyWhenAsked() async throws {
            try await withMockDNS { server in
                server.setBehavior(.servfail, for: "down.example")
                let clock = ManualClock()
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(),
                    cache: MXCacheOptions(unavailableTTL: .seconds(5)), now: clock.now)
                _ = await resolver.mx(for: "down.example")
                _ = await resolver.mx(for: "down.example")
                #expect(server.queryCount(for: "down.example", type: .mx) == 1)
                clock.advance(by: .seconds(6))
                _ = await resolver.mx(for: "down.example")
                #expect(server.queryCount(for: "down.example", type: .mx) == 2)
            }
        }

        @Test func thousandConcurrentLookupsMakeOneQuery() async throws {
            try await withMockDNS { server in
                serve(server, "busy.example")
                server.setBehavior(
                    .delayed(.milliseconds(100), .answer), for: "busy.example", type: .mx)
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                let results = await withTaskGroup(of: MXLookup.self) { group in
                    for _ in 0..<1000 { group.addTask { await resolver.mx(for: "busy.example") } }
                    var results: [MXLookup] = []
                    for await result in group { results.append(result) }
                    return results
                }
                #expect(results.count == 1000)
                #expect(results.allSatisfy { $0.answer?.hosts.first?.name == "mx.busy.example" })
                #expect(server.queryCount(for: "busy.example", type: .mx) == 1)
                #expect(server.queryCount(for: "mx.busy.example", type: .a) == 1)
            }
        }

        @Test func aCallersDeadlineDoesNotCutTheSharedQueryShort() async throws {
            try await withMockDNS { server in
                serve(server, "shared.example")
                server.setBehavior(.delayed(.seconds(1), .answer), for: "shared.example", type: .mx)
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(timeout: .seconds(2)))
                async let patient = resolver.mx(for: "shared.example", deadline: .now + .seconds(5))
                try await Task.sleep(for: .milliseconds(20))
                let clock = ContinuousClock()
                let start = clock.now
                let hasty = await resolver.mx(
                    for: "shared.example", deadline: .now + .milliseconds(50))
                #expect(hasty.isUnavailable)
                #expect(start.duration(to: clock.now) < .milliseconds(700))
                #expect(await patient.answer != nil)
                #expect(server.queryCount(for: "shared.example", type: .mx) == 1)
            }
        }

        @Test func theCacheStaysWithinItsCapacity() async throws {
            try await withMockDNS { server in
                for index in 0..<40 { serve(server, "d\(index).example") }
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(),
                    cache: MXCacheOptions(capacity: 10))
                for index in 0..<40 { _ = await resolver.mx(for: "d\(index).example") }
                #expect(resolver.cachedCount <= 10)
                // The most recent is still there.
                let before = server.totalQueryCount
                _ = await resolver.mx(for: "d39.example")
                #expect(server.totalQueryCount == before)
            }
        }

        @Test func disabledCacheAsksEveryTime() async throws {
            try await withMockDNS { server in
                serve(server, "nocache.example")
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(), cache: .disabled)
                _ = await resolver.mx(for: "nocache.example")
                _ = await resolver.mx(for: "nocache.example")
                #expect(server.queryCount(for: "nocache.example", type: .mx) == 2)
            }
        }
    }
}
