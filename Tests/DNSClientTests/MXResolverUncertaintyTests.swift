import DNSClient
import DirectSMTPTesting
import Sockets
import Testing

/// A response to `name`/`type` built by hand (its ID is replaced by the mock's
/// `.rawWithQueryID`): NOERROR unless `code` says otherwise, no answers.
func handMadeResponse(
    _ name: String, _ type: DNSRecordType, code: DNSResponseCode = .noError,
    truncated: Bool = false, answers: [DNSRecord] = [], authorities: [DNSRecord] = []
) throws -> [UInt8] {
    var header = DNSHeader(id: 0, flags: 0)
    header.isResponse = true
    header.recursionDesired = true
    header.recursionAvailable = true
    header.isTruncated = truncated
    header.responseCode = code
    return DNSMessage(
        header: header, questions: [DNSQuestion(name: try DNSName(name), type: type)],
        answers: answers, authorities: authorities
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
