import DNSClient
import DirectSMTPTesting
import Sockets
import Testing

/// TXT and PTR records: decoded on the wire, served by the mock, read back through the
/// general lookup (`DNSQueryClient.resolve`) beside the MX path.
@Suite struct TextAndPointerTests {
    @Test func reverseNames() throws {
        #expect(try DNSName.reverse(IPAddress("192.0.2.1")!).description == "1.2.0.192.in-addr.arpa")
        #expect(
            try DNSName.reverse(IPAddress("2001:db8::1")!).description
                == "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")
    }

    @Test func txtRoundTripsAndLongTextIsSplit() throws {
        let long = String(repeating: "p", count: 600)
        let record = DNSRecord.txt(try DNSName("sel._domainkey.example.com"), "v=DKIM1; p=" + long)
        guard case .txt(let strings) = record.data else {
            Issue.record("not TXT")
            return
        }
        #expect(strings.map(\.count) == [255, 255, 101])
        var message = DNSMessage.query(id: 7, name: record.name, type: .txt)
        message.answers = [record]
        let decoded = try DNSMessage(decoding: message.encoded(compress: true))
        #expect(decoded.answers.first?.data == record.data)
    }

    @Test func txtStringPastRDLENGTHIsMalformed() throws {
        var message = DNSMessage.query(id: 7, name: try DNSName("a.example"), type: .txt)
        message.answers = [DNSRecord(name: try DNSName("a.example"), type: .txt, ttl: 1, data: .unknown([5, 0x61]))]
        #expect(throws: DNSWireError.self) { try DNSMessage(decoding: message.encoded(compress: false)) }
    }

    @Test func servedAndResolved() async throws {
        let server = try MockDNSServer.start()
        defer { server.stop() }
        server.setTXT("example.com", ["v=spf1 -all", "other"])
        server.setPTR("192.0.2.1", ["mail.example.com"])
        server.setPTR("2001:db8::1", ["mail6.example.com"])
        let client = DNSQueryClient(configuration: server.resolverConfiguration())
        let deadline = ContinuousClock.now + .seconds(5)
        let texts = try await client.resolve(try DNSName("example.com"), type: .txt, deadline: deadline)
        #expect(Set(texts.records.map(\.data)) == [.txt([Array("v=spf1 -all".utf8)]), .txt([Array("other".utf8)])])
        for (ip, host) in [("192.0.2.1", "mail.example.com"), ("2001:db8::1", "mail6.example.com")] {
            let name = try DNSName.reverse(IPAddress(ip)!)
            let pointers = try await client.resolve(name, type: .ptr, deadline: deadline)
            #expect(pointers.records.map(\.data) == [.ptr(try DNSName(host))])
        }
        let none = try await client.resolve(try DNSName.reverse(IPAddress("192.0.2.9")!), type: .ptr, deadline: deadline)
        #expect(none.records.isEmpty)
    }
}
