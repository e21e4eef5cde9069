import DNSClient
import DirectSMTPTesting
import Sockets
import Testing

extension DNSClientTests {
    /// The mock server itself, and the query client's plumbing that the resolver tests
    /// only see from afar.
    @Suite
    struct MockDNSServerTests {
        @Test func answersOverTCPOnTheSamePort() async throws {
            try await withMockDNS { server in
                server.setA("tcp.example", ["127.0.0.4"])
                let connection = try await TCPConnection.connect(
                    to: server.address, deadline: .now + .seconds(2))
                defer { connection.close() }
                let query = DNSMessage.query(id: 0x4242, name: try DNSName("tcp.example"), type: .a)
                    .encoded()
                try await connection.write(
                    [0, UInt8(query.count)] + query, deadline: .now + .seconds(2))
                var buffer: [UInt8] = []
                while buffer.count < 2 || buffer.count < 2 + (Int(buffer[0]) << 8 | Int(buffer[1]))
                {
                    let count = try await connection.read(
                        appendingTo: &buffer, deadline: .now + .seconds(2))
                    try #require(count > 0)
                }
                let reply = try DNSMessage(decoding: Array(buffer.dropFirst(2)))
                #expect(reply.header.id == 0x4242)
                #expect(reply.answers.map(\.data) == [.a(ip("127.0.0.4"))])
                #expect(server.tcpQueryCount == 1)
                #expect(server.queryCount(for: "tcp.example", type: .a) == 1)
            }
        }

        @Test func sequenceServesEachQueryItsStep() async throws {
            try await withMockDNS { server in
                server.setA("seq.example", ["127.0.0.1"])
                server.setBehavior(
                    .sequence([.servfail, .refused, .answer]), for: "seq.example", type: .a)
                let client = DNSQueryClient(
                    configuration: server.resolverConfiguration(
                        timeout: .milliseconds(300), attempts: 3))
                let reply = try await client.query(
                    try DNSName("seq.example"), type: .a, deadline: .now + .seconds(3))
                #expect(reply.answers.count == 1)
                #expect(server.queryCount(for: "seq.example", type: .a) == 3)
            }
        }

        @Test func delayedBeyondTheTimeoutIsATimeout() async throws {
            try await withMockDNS { server in
                server.setA("late.example", ["127.0.0.1"])
                server.setBehavior(.delayed(.milliseconds(400), .answer), for: "late.example")
                let client = DNSQueryClient(
                    configuration: server.resolverConfiguration(
                        timeout: .milliseconds(100), attempts: 1))
                await #expect {
                    _ = try await client.query(
                        try DNSName("late.example"), type: .a, deadline: .now + .seconds(2))
                } throws: { error in
                    (error as? DNSQueryError)?.code == .timedOut
                }
            }
        }

        @Test func rawGarbageWithOurIDIsMalformed() async throws {
            try await withMockDNS { server in
                server.setBehavior(
                    .rawWithQueryID([
                        0, 0, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1,
                    ]), for: "junk.example")
                let client = DNSQueryClient(
                    configuration: server.resolverConfiguration(
                        timeout: .milliseconds(150), attempts: 1))
                await #expect {
                    _ = try await client.query(
                        try DNSName("junk.example"), type: .a, deadline: .now + .seconds(2))
                } throws: { error in
                    (error as? DNSQueryError)?.code == .malformedResponse
                }
            }
        }

        @Test func rotateSpreadsQueriesOverTheServers() async throws {
            try await withMockDNS { first in
                try await withMockDNS { second in
                    for server in [first, second] { server.setA("rr.example", ["127.0.0.1"]) }
                    var configuration = ResolverConfiguration(
                        nameservers: [first.address, second.address], timeout: .milliseconds(500))
                    configuration.rotate = true
                    let client = DNSQueryClient(configuration: configuration)
                    for _ in 0..<4 {
                        _ = try await client.query(
                            try DNSName("rr.example"), type: .a, deadline: .now + .seconds(2))
                    }
                    #expect(first.totalQueryCount == 2)
                    #expect(second.totalQueryCount == 2)
                }
            }
        }

        @Test func nodataCarriesTheSOAAndCNAMEsAreChased() async throws {
            try await withMockDNS { server in
                server.setNegativeTTL(soaTTL: 120, minimum: 45)
                server.setCNAME("www.example", "web.example")
                server.setA("web.example", ["127.0.0.8"])
                let client = DNSQueryClient(configuration: server.resolverConfiguration())
                let chased = try await client.resolve(
                    try DNSName("www.example"), type: .a, deadline: .now + .seconds(2))
                #expect(chased.canonicalName.description == "web.example")
                #expect(chased.addresses == [ip("127.0.0.8")])
                // One query: the server chased the CNAME itself.
                #expect(server.queryCount(for: "www.example", type: .a) == 1)
                let empty = try await client.resolve(
                    try DNSName("web.example"), type: .aaaa, deadline: .now + .seconds(2))
                #expect(empty.records.isEmpty)
                #expect(empty.responseCode == .noError)
                #expect(empty.ttl == 45)
            }
        }

        @Test(
            .enabled(
                if: (try? UDPSocket.bind(to: SocketAddress(ip: "::1", port: 0)))?.close() != nil))
        func worksOverIPv6Loopback() async throws {
            let server = try MockDNSServer.start(host: "::1")
            defer { server.stop() }
            server.setMX("six.example", [(10, "mx.six.example")])
            server.setAAAA("mx.six.example", ["::1"])
            #expect(server.address.isIPv6)
            let resolver = MXResolver(configuration: server.resolverConfiguration())
            let answer = try #require(await resolver.mx(for: "six.example").answer)
            #expect(
                answer.hosts == [
                    MailHost(name: "mx.six.example", preference: 10, addresses: [ip("::1")])
                ])
        }

        @Test func setMailDomainSetsMXAndAddresses() async throws {
            try await withMockDNS { server in
                server.setMailDomain(
                    "whole.example",
                    [
                        (10, "mx1.whole.example", ["127.0.0.1", "::1"]),
                        (20, "mx2.whole.example", ["127.0.0.2"]),
                    ])
                let resolver = MXResolver(configuration: server.resolverConfiguration())
                let answer = try #require(await resolver.mx(for: "whole.example").answer)
                #expect(
                    answer.hosts == [
                        MailHost(
                            name: "mx1.whole.example", preference: 10,
                            addresses: [ip("::1"), ip("127.0.0.1")]),
                        MailHost(
                            name: "mx2.whole.example", preference: 20, addresses: [ip("127.0.0.2")]),
                    ])
            }
        }

        @Test func listensOnLoopbackOnly() {
            #expect(throws: SocketError.self) { try MockDNSServer.start(host: "0.0.0.0") }
            #expect(throws: SocketError.self) { try MockDNSServer.start(host: "192.0.2.1") }
        }

        @Test func stopClosesThePort() async throws {
            let server = try MockDNSServer.start()
            server.setA("bye.example", ["127.0.0.1"])
            let address = server.address
            server.stop()
            let client = DNSQueryClient(
                configuration: ResolverConfiguration(
                    nameservers: [address], timeout: .milliseconds(300), attempts: 1))
            await #expect(throws: DNSQueryError.self) {
                _ = try await client.query(
                    try DNSName("bye.example"), type: .a, deadline: .now + .seconds(2))
            }
        }
    }
}
