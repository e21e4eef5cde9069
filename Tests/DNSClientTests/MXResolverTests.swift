import DNSClient
import DirectSMTPTesting
import Sockets
import Testing

extension DNSClientTests {
    /// Every way an MX lookup can end, against the mock server: no mail server for the
    /// domain versus DNS unavailable, exactly.
    @Suite
    struct MXResolverTests {
        @Test func twoHostsAtDifferentPreferences() async throws {
            try await withMockDNS { server in
                server.setMX("example.com", [(20, "mx2.example.com"), (10, "mx1.example.com")])
                server.setA("mx1.example.com", ["127.0.0.1", "127.0.0.2"])
                server.setAAAA("mx1.example.com", ["::1"])
                server.setA("mx2.example.com", ["127.0.0.3"])
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                let answer = try #require(await resolver.mx(for: "example.com").answer)
                #expect(answer.domain == "example.com")
                #expect(!answer.isImplicit)
                #expect(answer.hosts.map(\.name) == ["mx1.example.com", "mx2.example.com"])
                #expect(answer.hosts.map(\.preference) == [10, 20])
                // AAAA and A interleaved, AAAA first (RFC 8305).
                #expect(answer.hosts[0].addresses == [ip("::1"), ip("127.0.0.1"), ip("127.0.0.2")])
                #expect(answer.hosts[1].addresses == [ip("127.0.0.3")])
            }
        }

        @Test func implicitMXFromTheDomainsOwnAddresses() async throws {
            try await withMockDNS { server in
                server.setA("implicit.example", ["127.0.0.9"])
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                let answer = try #require(await resolver.mx(for: "implicit.example").answer)
                #expect(answer.isImplicit)
                #expect(
                    answer.hosts == [
                        MailHost(
                            name: "implicit.example", preference: 0, addresses: [ip("127.0.0.9")])
                    ])
            }
        }

        @Test func nullMXIsNoMailServerAndNeverFallsBackToAddresses() async throws {
            try await withMockDNS { server in
                server.setNullMX("null.example")
                server.setA("null.example", ["127.0.0.1"])
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                #expect(await resolver.mx(for: "null.example") == .noMailServer(.nullMX))
                #expect(server.queryCount(for: "null.example", type: .a) == 0)
            }
        }

        @Test func nullMXBesideOtherRecordsIsIgnored() async throws {
            try await withMockDNS { server in
                server.setMX("mixed.example", [(0, "."), (10, "mx.mixed.example")])
                server.setA("mx.mixed.example", ["127.0.0.1"])
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                let answer = try #require(await resolver.mx(for: "mixed.example").answer)
                #expect(answer.hosts.map(\.name) == ["mx.mixed.example"])
            }
        }

        @Test func nxdomainIsNoMailServer() async throws {
            try await withMockDNS { server in
                server.setNXDOMAIN("gone.example")
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                #expect(await resolver.mx(for: "gone.example") == .noMailServer(.nonExistentDomain))
            }
        }

        @Test func noMXAndNoAddressIsNoMailServer() async throws {
            try await withMockDNS { server in
                server.setRecords(
                    [
                        DNSRecord(
                            name: try DNSName("txt.example"), type: .txt, ttl: 60,
                            data: .unknown([2, 0x68, 0x69]))
                    ],
                    for: "txt.example", type: .txt)
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                #expect(await resolver.mx(for: "txt.example") == .noMailServer(.noAddressRecords))
            }
        }

        @Test func mxHostsWithoutAnyAddressAreNoMailServer() async throws {
            try await withMockDNS { server in
                server.setMX(
                    "hollow.example",
                    [(10, "missing.hollow.example"), (20, "nodata.hollow.example")])
                server.setNXDOMAIN("missing.hollow.example")
                server.setRecords(
                    [
                        DNSRecord(
                            name: try DNSName("nodata.hollow.example"), type: .txt, ttl: 60,
                            data: .unknown([0]))
                    ],
                    for: "nodata.hollow.example", type: .txt)
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                #expect(
                    await resolver.mx(for: "hollow.example")
                        == .noMailServer(.hostsWithoutAddresses))
            }
        }

        @Test func hostsWithoutAddressesAreDroppedWhenOthersHaveSome() async throws {
            try await withMockDNS { server in
                server.setMX(
                    "half.example", [(10, "missing.half.example"), (20, "mx.half.example")])
                server.setA("mx.half.example", ["127.0.0.1"])
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                let answer = try #require(await resolver.mx(for: "half.example").answer)
                #expect(answer.hosts.map(\.name) == ["mx.half.example"])
            }
        }

        @Test func anMXHostLookupFailureIsUnavailableNotNoMailServer() async throws {
            try await withMockDNS { server in
                server.setMX("flaky.example", [(10, "mx.flaky.example")])
                server.setBehavior(.servfail, for: "mx.flaky.example")
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                #expect(await resolver.mx(for: "flaky.example").isUnavailable)
            }
        }

        @Test func implicitMXWithFailingAddressLookupIsUnavailable() async throws {
            try await withMockDNS { server in
                server.setRecords(
                    [
                        DNSRecord(
                            name: try DNSName("soft.example"), type: .txt, ttl: 60,
                            data: .unknown([0]))
                    ],
                    for: "soft.example", type: .txt)
                server.setBehavior(.servfail, for: "soft.example", type: .a)
                server.setBehavior(.servfail, for: "soft.example", type: .aaaa)
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                #expect(await resolver.mx(for: "soft.example").isUnavailable)
            }
        }

        @Test(arguments: [
            MockDNSBehavior.servfail, .refused, .silence, .wrongID, .otherName,
            .rawWithQueryID([0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 0xC0, 0x0C]),
        ])
        func failuresAreDNSUnavailable(_ behavior: MockDNSBehavior) async throws {
            try await withMockDNS { server in
                server.setMX("down.example", [(10, "mx.down.example")])
                server.setA("mx.down.example", ["127.0.0.1"])
                server.setBehavior(behavior, for: "down.example", type: .mx)
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(
                        timeout: .milliseconds(200), attempts: 2))
                let clock = ContinuousClock()
                let start = clock.now
                let lookup = await resolver.mx(for: "down.example")
                #expect(lookup.isUnavailable, "\(lookup)")
                #expect(start.duration(to: clock.now) < .milliseconds(1500))
            }
        }

        @Test func silenceGivesUnavailableWithinTheConfiguredTimeout() async throws {
            try await withMockDNS { server in
                server.setBehavior(.silence, for: "quiet.example")
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(
                        timeout: .milliseconds(150), attempts: 2))
                let clock = ContinuousClock()
                let start = clock.now
                #expect(await resolver.mx(for: "quiet.example").isUnavailable)
                let elapsed = start.duration(to: clock.now)
                #expect(elapsed >= .milliseconds(290))
                #expect(elapsed < .milliseconds(900))
                #expect(server.queryCount(for: "quiet.example", type: .mx) == 2)
            }
        }

        @Test func callerDeadlineEndsTheWaitEarly() async throws {
            try await withMockDNS { server in
                server.setBehavior(.silence, for: "slow.example")
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(timeout: .seconds(3), attempts: 1))
                let clock = ContinuousClock()
                let start = clock.now
                let lookup = await resolver.mx(
                    for: "slow.example", deadline: .now + .milliseconds(100))
                #expect(lookup.isUnavailable)
                #expect(start.duration(to: clock.now) < .milliseconds(600))
            }
        }

        @Test func unreachableServerIsUnavailableQuickly() async throws {
            // A port that was just freed: the kernel answers with ICMP port unreachable.
            let probe = try UDPSocket.bind(to: SocketAddress(ip: "127.0.0.1", port: 0))
            let dead = probe.localAddress
            probe.close()
            let resolver = MXResolver(
                configuration: ResolverConfiguration(
                    nameservers: [dead], timeout: .seconds(2), attempts: 2))
            let clock = ContinuousClock()
            let start = clock.now
            let lookup = await resolver.mx(for: "example.com")
            #expect(lookup.isUnavailable)
            #expect(start.duration(to: clock.now) < .seconds(1))
        }

        @Test func servfailThenSuccessOnTheSecondServer() async throws {
            try await withMockDNS { first in
                try await withMockDNS { second in
                    for server in [first, second] {
                        server.setMX("two.example", [(10, "mx.two.example")])
                        server.setA("mx.two.example", ["127.0.0.1"])
                    }
                    first.setBehavior(.servfail, for: "two.example")
                    first.setBehavior(.servfail, for: "mx.two.example")
                    let configuration = ResolverConfiguration(
                        nameservers: [first.address, second.address], timeout: .milliseconds(500),
                        attempts: 1)
                    let resolver = MXResolver(configuration: configuration)
                    let answer = try #require(await resolver.mx(for: "two.example").answer)
                    #expect(answer.hosts.map(\.name) == ["mx.two.example"])
                    #expect(first.queryCount(for: "two.example", type: .mx) == 1)
                    #expect(second.queryCount(for: "two.example", type: .mx) == 1)
                }
            }
        }

        @Test func refusedThenTimeoutThenSuccessOnTheThirdServer() async throws {
            try await withMockDNS { first in
                try await withMockDNS { second in
                    try await withMockDNS { third in
                        third.setMX("three.example", [(10, "mx.three.example")])
                        third.setA("mx.three.example", ["127.0.0.1"])
                        first.setBehavior(.refused, for: "three.example")
                        first.setBehavior(.refused, for: "mx.three.example")
                        second.setBehavior(.silence, for: "three.example")
                        second.setBehavior(.silence, for: "mx.three.example")
                        let configuration = ResolverConfiguration(
                            nameservers: [first.address, second.address, third.address],
                            timeout: .milliseconds(150), attempts: 1)
                        let resolver = MXResolver(configuration: configuration)
                        #expect(await resolver.mx(for: "three.example").answer?.hosts.count == 1)
                    }
                }
            }
        }

        @Test func truncatedAnswerIsAskedAgainOverTCP() async throws {
            try await withMockDNS { server in
                server.setMX("big.example", [(10, "mx.big.example")])
                server.setA("mx.big.example", ["127.0.0.1"])
                server.setBehavior(.truncated, for: "big.example", type: .mx)
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                let answer = try #require(await resolver.mx(for: "big.example").answer)
                #expect(answer.hosts.map(\.name) == ["mx.big.example"])
                #expect(server.tcpQueryCount == 1)
            }
        }

        @Test func anAnswerLargerThanEDNSSizeComesOverTCP() async throws {
            try await withMockDNS { server in
                let hosts = (0..<60).map {
                    (
                        preference: 59 - $0,
                        host: "a-rather-long-mail-exchanger-name-\($0).huge.example"
                    )
                }
                server.setMX("huge.example", hosts)
                for host in hosts { server.setA(host.host, ["127.0.0.1"]) }
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                let answer = try #require(await resolver.mx(for: "huge.example").answer)
                // Only the most preferred hosts are resolved.
                #expect(answer.hosts.map(\.preference) == Array(0..<MXResolver.maximumMXHosts))
                // The others are in the answer without addresses, for `directsmtp mx`.
                #expect(
                    answer.unresolvedHosts.map(\.preference) == Array(MXResolver.maximumMXHosts..<60))
                #expect(answer.unresolvedHosts.allSatisfy { $0.status == .notAsked })
                // MX over UDP (truncated) and TCP, then A and AAAA of each host kept.
                #expect(server.totalQueryCount == 2 + 2 * MXResolver.maximumMXHosts)
                #expect(server.tcpQueryCount >= 1)
            }
        }

        @Test(arguments: [
            MockDNSBehavior.wrongIDThenAnswer, .otherNameThenAnswer, .wrongSourceThenAnswer,
        ])
        func spoofedAnswersAreIgnoredAndTheRealOneAccepted(_ behavior: MockDNSBehavior) async throws
        {
            try await withMockDNS { server in
                server.setMX("target.example", [(10, "mx.target.example")])
                server.setA("mx.target.example", ["127.0.0.1"])
                server.setBehavior(behavior, for: "target.example", type: .mx)
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                let lookup = await resolver.mx(for: "target.example")
                // The spoof is an NXDOMAIN: had it been taken, this would be noMailServer.
                #expect(lookup.answer?.hosts.map(\.name) == ["mx.target.example"], "\(lookup)")
            }
        }

        @Test func delayedAnswerWithinTheTimeoutIsAccepted() async throws {
            try await withMockDNS { server in
                server.setMX("late.example", [(10, "mx.late.example")])
                server.setA("mx.late.example", ["127.0.0.1"])
                server.setBehavior(
                    .delayed(.milliseconds(100), .answer), for: "late.example", type: .mx)
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(timeout: .milliseconds(800)))
                #expect(await resolver.mx(for: "late.example").answer != nil)
            }
        }

        @Test func cnameOfTheDomainIsFollowed() async throws {
            try await withMockDNS { server in
                server.setCNAME("alias.example", "real.example")
                server.setMX("real.example", [(10, "mx.real.example")])
                // An MX target that is a CNAME is a violation, still followed.
                server.setCNAME("mx.real.example", "box.real.example")
                server.setA("box.real.example", ["127.0.0.5"])
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                let answer = try #require(await resolver.mx(for: "alias.example").answer)
                #expect(answer.domain == "alias.example")
                #expect(
                    answer.hosts == [
                        MailHost(
                            name: "mx.real.example", preference: 10, addresses: [ip("127.0.0.5")])
                    ])
            }
        }

        @Test func cnameLoopIsUnavailable() async throws {
            try await withMockDNS { server in
                server.setCNAME("loop1.example", "loop2.example")
                server.setCNAME("loop2.example", "loop1.example")
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                #expect(await resolver.mx(for: "loop1.example").isUnavailable)
            }
        }

        @Test func equalPreferencesAreShuffled() async throws {
            try await withMockDNS { server in
                let names = ["a.mx.example", "b.mx.example", "c.mx.example"]
                server.setMX("tie.example", names.map { (10, $0) } + [(5, "first.mx.example")])
                for name in names + ["first.mx.example"] { server.setA(name, ["127.0.0.1"]) }
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                var seconds: Set<String> = []
                for _ in 0..<100 {
                    let answer = try #require(await resolver.mx(for: "tie.example").answer)
                    #expect(answer.hosts.first?.name == "first.mx.example")
                    #expect(Set(answer.hosts.dropFirst().map(\.name)) == Set(names))
                    seconds.insert(answer.hosts[1].name)
                }
                #expect(seconds.count == 3)
            }
        }

        @Test func idnDomainsAreLookedUpAsALabels() async throws {
            try await withMockDNS { server in
                server.setMX("xn--bcher-kva.example", [(10, "mx.xn--bcher-kva.example")])
                server.setA("mx.xn--bcher-kva.example", ["127.0.0.1"])
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                let answer = try #require(await resolver.mx(for: "Bücher.Example.").answer)
                #expect(answer.domain == "xn--bcher-kva.example")
            }
        }

        @Test func mxTargetsAreAbsoluteNames() async throws {
            try await withMockDNS { server in
                server.setMX("short.example", [(10, "mail")])
                server.setA("mail", ["127.0.0.1"])
                server.setA("mail.short.example", ["127.0.0.2"])
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                let answer = try #require(await resolver.mx(for: "short.example").answer)
                #expect(
                    answer.hosts == [
                        MailHost(name: "mail", preference: 10, addresses: [ip("127.0.0.1")])
                    ])
                #expect(server.queryCount(for: "mail.short.example") == 0)
            }
        }

        @Test(arguments: ["", ".", "a..b", String(repeating: "x", count: 64) + ".example"])
        func impossibleNamesAreNonExistent(_ domain: String) async throws {
            try await withMockDNS { server in
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                #expect(await resolver.mx(for: domain) == .noMailServer(.nonExistentDomain))
                #expect(server.totalQueryCount == 0)
            }
        }

        @Test func cancellationGivesUnavailablePromptly() async throws {
            try await withMockDNS { server in
                server.setBehavior(.silence, for: "hang.example")
                let resolver = MXResolver(
                    configuration: server.resolverConfiguration(timeout: .seconds(5), attempts: 1))
                let task = Task { await resolver.mx(for: "hang.example") }
                try await Task.sleep(for: .milliseconds(50))
                let clock = ContinuousClock()
                let start = clock.now
                task.cancel()
                #expect(await task.value.isUnavailable)
                #expect(start.duration(to: clock.now) < .milliseconds(500))
            }
        }
    }
}
