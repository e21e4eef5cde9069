import DNSClient
import DirectSMTPTesting
import Sockets
import Testing

/// A response to `name`/`type` built by hand (its ID is replaced by the mock's
/// `.rawWithQueryID`): NOERROR unless `code` says otherwise, no answers.
func handMadeResponse(
    _ name: String, _ type: DNSRecordType, code: DNSResponseCode = .noError,
    truncated: Bool = false, answers: [DNSRecord] = [], authorities: [DNSRecord] = [],
    additionals: [DNSRecord] = []
) throws -> [UInt8] {
    var header = DNSHeader(id: 0, flags: 0)
    header.isResponse = true
    header.recursionDesired = true
    header.recursionAvailable = true
    header.isTruncated = truncated
    header.responseCode = code
    return DNSMessage(
        header: header, questions: [DNSQuestion(name: try DNSName(name), type: type)],
        answers: answers, authorities: authorities, additionals: additionals
    ).encoded()
}

extension DNSClientTests {
    /// Answers that look like a "no" but are not one: each must be `dnsUnavailable`
    /// (scenario 1), never `noMailServer` (scenario 3).
    @Suite
    struct MXResolverUncertaintyTests {
        /// A TC answer over TCP is incomplete: its empty answer section is no NODATA.
        @Test func truncatedAnswerOverTCPIsUnavailable() async throws {
            try await withMockDNS { server in
                server.setMX("tc.example", [(10, "mx.tc.example")])
                server.setA("mx.tc.example", ["127.0.0.1"])
                // UDP: TC, so the client asks over TCP; TCP: TC again, empty.
                server.setBehavior(
                    .sequence([
                        .truncated,
                        .rawWithQueryID(try handMadeResponse("tc.example", .mx, truncated: true)),
                    ]), for: "tc.example", type: .mx)
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                let lookup = await resolver.mx(for: "tc.example")
                #expect(lookup.isUnavailable, "\(lookup)")
                #expect(server.tcpQueryCount == 1)
            }
        }
    }
}

extension DNSClientTests.MXResolverUncertaintyTests {
    /// A referral (NOERROR, empty answer, NS and no SOA in the authority section) comes
    /// from a server that would not recurse: it is not NODATA (RFC 2308 §2.2.1). Taken as
    /// NODATA for MX and then A/AAAA, it made the domain "no mail server".
    @Test func referralIsUnavailableNotNoData() async throws {
        try await withMockDNS { server in
            let ns = DNSRecord(
                name: try DNSName("example"), type: .ns, ttl: 3600,
                data: .ns(try DNSName("a.iana-servers.example")))
            for type in [DNSRecordType.mx, .a, .aaaa] {
                server.setBehavior(
                    .rawWithQueryID(try handMadeResponse("lame.example", type, authorities: [ns])),
                    for: "lame.example", type: type)
            }
            let resolver = MXResolver(configuration: server.resolverConfiguration())
            let lookup = await resolver.mx(for: "lame.example")
            #expect(lookup.isUnavailable, "\(lookup)")
        }
    }

    /// A referral from the first server moves on to the next, which answers.
    @Test func referralMovesOnToTheNextServer() async throws {
        try await withMockDNS { first in
            try await withMockDNS { second in
                let ns = DNSRecord(
                    name: try DNSName("example"), type: .ns, ttl: 3600,
                    data: .ns(try DNSName("ns.example")))
                first.setBehavior(
                    .rawWithQueryID(try handMadeResponse("next.example", .mx, authorities: [ns])),
                    for: "next.example", type: .mx)
                second.setMailDomain("next.example", [(10, "mx.next.example", ["127.0.0.1"])])
                first.setMailDomain("next.example", [(10, "mx.next.example", ["127.0.0.1"])])
                let resolver = MXResolver(
                    configuration: ResolverConfiguration(
                        nameservers: [first.address, second.address], timeout: .milliseconds(500),
                        attempts: 1))
                let lookup = await resolver.mx(for: "next.example")
                #expect(lookup.answer?.hosts.map(\.name) == ["mx.next.example"], "\(lookup)")
                #expect(second.queryCount(for: "next.example", type: .mx) == 1)
            }
        }
    }
}

extension DNSClientTests.MXResolverUncertaintyTests {
    /// More MX hosts than are resolved at once, the most preferred ones all without an
    /// address: the others are asked before any "no mail server" (a "no" must cover
    /// every MX host), and one with an address is found.
    @Test func hostsBeyondTheFirstBatchAreAskedBeforeSayingNo() async throws {
        try await withMockDNS { server in
            let count = MXResolver.maximumMXHosts + 4
            let hosts = (0..<count).map { (preference: $0, host: "mx\($0).many.example") }
            server.setMX("many.example", hosts)
            for host in hosts.dropLast() { server.setNXDOMAIN(host.host) }
            server.setA(hosts[count - 1].host, ["127.0.0.1"])
            let resolver = MXResolver(configuration: server.resolverConfiguration())
            let lookup = await resolver.mx(for: "many.example")
            #expect(lookup.answer?.hosts.map(\.name) == [hosts[count - 1].host], "\(lookup)")
        }
    }

    /// Every MX host of a long list without an address is still "no mail server".
    @Test func aLongListWithoutAnyAddressIsNoMailServer() async throws {
        try await withMockDNS { server in
            let hosts = (0..<(MXResolver.maximumMXHosts + 4)).map {
                (preference: $0, host: "mx\($0).empty.example")
            }
            server.setMX("empty.example", hosts)
            for host in hosts { server.setNXDOMAIN(host.host) }
            let resolver = MXResolver(configuration: server.resolverConfiguration())
            #expect(
                await resolver.mx(for: "empty.example") == .noMailServer(.hostsWithoutAddresses))
        }
    }

    /// Beyond what is ever examined, a list whose examined hosts all lack addresses
    /// cannot be called empty: unavailable.
    @Test func hostsNeverExaminedMakeTheAnswerUncertain() async throws {
        try await withMockDNS { server in
            let hosts = (0..<(MXResolver.maximumMXHostsExamined + 1)).map {
                (preference: $0, host: "h\($0).endless.example")
            }
            server.setMX("endless.example", hosts)
            let resolver = MXResolver(configuration: server.resolverConfiguration())
            let lookup = await resolver.mx(for: "endless.example")
            #expect(lookup.isUnavailable, "\(lookup)")
            #expect(server.queryCount(for: hosts[hosts.count - 1].host) == 0)
        }
    }
}

extension DNSClientTests.MXResolverUncertaintyTests {
    /// A TC datagram cut in the middle of a record (some servers fill the datagram and
    /// cut) does not decode, but TC says what to do: ask over TCP at once.
    @Test func aTruncatedDatagramCutMidRecordIsAskedAgainOverTCP() async throws {
        try await withMockDNS { server in
            server.setMailDomain("cut.example", [(10, "mx.cut.example", ["127.0.0.1"])])
            let full = try handMadeResponse(
                "cut.example", .mx, truncated: true,
                answers: [
                    .mx(
                        try DNSName("cut.example"), preference: 10,
                        exchange: try DNSName("mx.cut.example"))
                ])
            server.setBehavior(
                .sequence([.rawWithQueryID(Array(full.dropLast(5))), .answer]), for: "cut.example",
                type: .mx)
            let resolver = MXResolver(
                configuration: server.resolverConfiguration(timeout: .milliseconds(400)))
            let clock = ContinuousClock()
            let start = clock.now
            let lookup = await resolver.mx(for: "cut.example")
            #expect(lookup.answer?.hosts.map(\.name) == ["mx.cut.example"], "\(lookup)")
            #expect(server.tcpQueryCount == 1)
            #expect(start.duration(to: clock.now) < .milliseconds(300))
        }
    }
}

extension DNSClientTests.MXResolverUncertaintyTests {
    /// An EDNS extended RCODE (here BADVERS, 16) leaves 0 in the header's 4 bits: it is
    /// a failure, not NOERROR with an empty answer.
    @Test func anExtendedRCODEIsNotNoData() async throws {
        try await withMockDNS { server in
            let opt = DNSRecord(
                name: .root, type: .opt, recordClass: DNSClass(rawValue: 1232),
                ttl: 0x0100_0000, data: .unknown([]))
            for type in [DNSRecordType.mx, .a, .aaaa] {
                server.setBehavior(
                    .rawWithQueryID(
                        try handMadeResponse("badvers.example", type, additionals: [opt])),
                    for: "badvers.example", type: type)
            }
            let resolver = MXResolver(configuration: server.resolverConfiguration())
            let lookup = await resolver.mx(for: "badvers.example")
            #expect(lookup.isUnavailable, "\(lookup)")
        }
    }
}
