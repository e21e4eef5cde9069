import DNSClient
import DirectSMTPTesting
import Sockets
import Testing

extension DNSClientTests {
    /// What a cached answer stands for must not outlive any part of it: a NODATA or
    /// NXDOMAIN inside a positive answer keeps its own (SOA) TTL, and an answer built on
    /// a failed lookup keeps at most the short cap.
    @Suite
    struct MXCacheLifetimeTests {
        @Test func anMXHostWithoutAddressBoundsTheAnswersLifetime() async throws {
            try await withMockDNS { server in
                server.setNegativeTTL(soaTTL: 30, minimum: 30)
                server.setMX("neg.example", [(10, "a.neg.example"), (20, "b.neg.example")])
                server.setA("a.neg.example", ["127.0.0.1"])
                server.setAAAA("a.neg.example", ["::1"])
                server.setNXDOMAIN("b.neg.example")
                let clock = ManualClock()
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(), now: clock.now)
                #expect(await resolver.mx(for: "neg.example").answer?.hosts.count == 1)
                clock.advance(by: .seconds(29))
                _ = await resolver.mx(for: "neg.example")
                #expect(server.queryCount(for: "neg.example", type: .mx) == 1)
                // b.neg.example's NXDOMAIN has expired: it may have an address by now.
                server.setA("b.neg.example", ["127.0.0.2"])
                server.setBehavior(.answer, for: "b.neg.example")
                clock.advance(by: .seconds(2))
                let again = await resolver.mx(for: "neg.example")
                #expect(server.queryCount(for: "neg.example", type: .mx) == 2)
                #expect(again.answer?.hosts.count == 2, "\(again)")
            }
        }

        @Test func aNODATAForOneFamilyBoundsTheAnswersLifetime() async throws {
            try await withMockDNS { server in
                server.setNegativeTTL(soaTTL: 30, minimum: 30)
                server.setMX("v4.example", [(10, "mx.v4.example")])
                server.setA("mx.v4.example", ["127.0.0.1"])  // AAAA: NODATA, TTL 30
                let clock = ManualClock()
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(), now: clock.now)
                _ = await resolver.mx(for: "v4.example")
                clock.advance(by: .seconds(29))
                _ = await resolver.mx(for: "v4.example")
                #expect(server.queryCount(for: "v4.example", type: .mx) == 1)
                clock.advance(by: .seconds(2))
                _ = await resolver.mx(for: "v4.example")
                #expect(server.queryCount(for: "v4.example", type: .mx) == 2)
            }
        }

        @Test func anAnswerWithAFailedLookupIsKeptAtMostFiveMinutes() async throws {
            try await withMockDNS { server in
                server.setMX("part.example", [(10, "mx.part.example")], ttl: 86_400)
                server.setA("mx.part.example", ["127.0.0.1"], ttl: 86_400)
                server.setBehavior(.servfail, for: "part.example", type: .aaaa)
                server.setBehavior(.servfail, for: "mx.part.example", type: .aaaa)
                let clock = ManualClock()
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(),
                    cache: MXCacheOptions(unavailableTTL: .seconds(3600)), now: clock.now)
                #expect(await resolver.mx(for: "part.example").answer != nil)
                clock.advance(by: .seconds(299))
                _ = await resolver.mx(for: "part.example")
                #expect(server.queryCount(for: "part.example", type: .mx) == 1)
                clock.advance(by: .seconds(2))
                _ = await resolver.mx(for: "part.example")
                #expect(server.queryCount(for: "part.example", type: .mx) == 2)
            }
        }
    }
}

extension DNSClientTests.MXCacheLifetimeTests {
    /// One caller of a shared lookup cancelled: it gets `dnsUnavailable` at once, the
    /// others still get the answer from the one query.
    @Test func cancellingOneCallerLeavesTheOthersTheirAnswer() async throws {
        try await withMockDNS { server in
            server.setMailDomain("share.example", [(10, "mx.share.example", ["127.0.0.1"])])
            server.setBehavior(
                .delayed(.milliseconds(300), .answer), for: "share.example", type: .mx)
            let resolver = MXResolver(configuration: server.resolverConfiguration())
            let others = (0..<3).map { _ in Task { await resolver.mx(for: "share.example") } }
            let cancelled = Task { await resolver.mx(for: "share.example") }
            try await Task.sleep(for: .milliseconds(50))
            cancelled.cancel()
            #expect(await cancelled.value.isUnavailable)
            for other in others { #expect(await other.value.answer != nil) }
            #expect(server.queryCount(for: "share.example", type: .mx) == 1)
        }
    }

    /// One MX host answers, the other's lookup fails: the answer gives the first and says
    /// it is not complete (a caller refusing the first must not call the domain mailless).
    @Test func aFailedHostMakesTheAnswerIncomplete() async throws {
        try await withMockDNS { server in
            server.setMX("half.example", [(10, "ok.half.example"), (10, "down.half.example")])
            server.setA("ok.half.example", ["10.0.0.5"])
            server.setBehavior(.servfail, for: "down.half.example")
            let resolver = MXResolver(configuration: server.resolverConfiguration())
            let answer = try #require(await resolver.mx(for: "half.example").answer)
            #expect(answer.hosts.map(\.name) == ["ok.half.example"])
            #expect(!answer.isComplete)
            server.setMX("whole.example", [(10, "ok.half.example")])
            #expect(await resolver.mx(for: "whole.example").answer?.isComplete == true)
        }
    }

    /// Mixed "no address" and failed MX hosts: the failure makes it uncertain.
    @Test func aFailedHostBesideHostsWithoutAddressIsUnavailable() async throws {
        try await withMockDNS { server in
            server.setMX("mixed.example", [(10, "gone.mixed.example"), (20, "down.mixed.example")])
            server.setNXDOMAIN("gone.mixed.example")
            server.setBehavior(.servfail, for: "down.mixed.example", type: .a)
            let resolver = MXResolver(configuration: server.resolverConfiguration())
            let lookup = await resolver.mx(for: "mixed.example")
            #expect(lookup.isUnavailable, "\(lookup)")
        }
    }
}
