import DNSClient
import Sockets
import Testing

/// A response header (QR, RD, RA) with the given counts, then `body`.
func packet(
    id: UInt16 = 0x1234, qd: UInt16 = 0, an: UInt16 = 0, ns: UInt16 = 0, ar: UInt16 = 0,
    _ body: [UInt8]
) -> [UInt8] {
    var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x81, 0x80]
    for count in [qd, an, ns, ar] { bytes += [UInt8(count >> 8), UInt8(count & 0xFF)] }
    return bytes + body
}

/// `a.example` at offset 12, type MX class IN: 15 bytes of question.
let question: [UInt8] = [1, 0x61, 7] + Array("example".utf8) + [0, 0, 15, 0, 1]

/// A typical compressed MX response: two MX records and their A/AAAA glue.
func typicalMXResponse() throws -> [UInt8] {
    let domain = try DNSName("example.com")
    let mx1 = try DNSName("mx1.example.com")
    let mx2 = try DNSName("mx2.example.com")
    var header = DNSHeader(id: 0xBEEF, flags: 0)
    header.isResponse = true
    header.recursionDesired = true
    header.recursionAvailable = true
    let message = DNSMessage(
        header: header, questions: [DNSQuestion(name: domain, type: .mx)],
        answers: [
            .mx(domain, preference: 10, exchange: mx1, ttl: 3600),
            .mx(domain, preference: 20, exchange: mx2, ttl: 3600),
        ],
        additionals: [
            .address(mx1, IPAddress("192.0.2.1")!, ttl: 3600),
            .address(mx1, IPAddress("2001:db8::1")!, ttl: 3600),
            .address(mx2, IPAddress("192.0.2.2")!, ttl: 3600),
            DNSRecord(
                name: .root, type: .opt, recordClass: DNSClass(rawValue: 1232), ttl: 0,
                data: .unknown([])),
        ])
    return message.encoded()
}

extension DNSClientTests {
    @Suite
    struct DNSCodecTests {
        @Test func typicalResponseRoundTripsAndIsCompressed() throws {
            let bytes = try typicalMXResponse()
            let message = try DNSMessage(decoding: bytes)
            #expect(message.header.id == 0xBEEF)
            #expect(message.header.isResponse)
            #expect(message.questions == [DNSQuestion(name: try DNSName("example.com"), type: .mx)])
            #expect(
                message.answers.map(\.data) == [
                    .mx(preference: 10, exchange: try DNSName("mx1.example.com")),
                    .mx(preference: 20, exchange: try DNSName("mx2.example.com")),
                ])
            #expect(message.additionals.count == 4)
            #expect(message.encoded() == bytes)
            // example.com written once, then pointers: far smaller than uncompressed.
            #expect(bytes.count < 150)
        }

        @Test func queryCarriesEDNS0With1232Bytes() throws {
            let bytes = DNSMessage.query(id: 7, name: try DNSName("Example.COM"), type: .mx)
                .encoded()
            let decoded = try DNSMessage(decoding: bytes)
            #expect(decoded.header.recursionDesired)
            #expect(!decoded.header.isResponse)
            #expect(decoded.questions.first?.name.description == "example.com")
            let opt = try #require(decoded.additionals.first)
            #expect(opt.type == .opt)
            #expect(opt.name.isRoot)
            #expect(opt.recordClass.rawValue == 1232)
        }

        @Test func namesAreCaseInsensitiveAndPrintable() throws {
            #expect(try DNSName("MX1.Example.com.") == DNSName("mx1.example.com"))
            #expect(try DNSName("mx1.example.com").description == "mx1.example.com")
            #expect(DNSName.root.description == ".")
            #expect(try DNSName(".").isRoot)
            #expect(throws: DNSWireError.self) { try DNSName("a..b") }
            #expect(throws: DNSWireError.self) { try DNSName(String(repeating: "a", count: 64)) }
            let long = Array(repeating: String(repeating: "a", count: 63), count: 4).joined(
                separator: ".")
            #expect(throws: DNSWireError.self) { try DNSName(long) }
        }

        @Test func ttlWithTheHighBitSetReadsAsZero() throws {
            let record: [UInt8] = [0xC0, 12, 0, 1, 0, 1, 0x80, 0, 0, 5, 0, 4, 127, 0, 0, 1]
            let message = try DNSMessage(decoding: packet(qd: 1, an: 1, question + record))
            #expect(message.answers.first?.ttl == 0)
            #expect(message.answers.first?.data == .a(IPAddress("127.0.0.1")!))
        }

        /// OPT's "TTL" is the extended RCODE and flags (RFC 6891): read as is.
        @Test func optTTLIsKeptEvenWithTheHighBitSet() throws {
            let opt: [UInt8] = [0, 0, 41, 0x04, 0xD0, 0x80, 0, 0x80, 0, 0, 0]
            let message = try DNSMessage(decoding: packet(qd: 1, ar: 1, question + opt))
            #expect(message.additionals.first?.ttl == 0x8000_8000)
        }

        @Test func nullMXDecodesToTheRoot() throws {
            let record: [UInt8] = [0xC0, 12, 0, 15, 0, 1, 0, 0, 1, 0, 0, 3, 0, 0, 0]
            let message = try DNSMessage(decoding: packet(qd: 1, an: 1, question + record))
            #expect(message.answers.first?.data == .mx(preference: 0, exchange: .root))
        }

        @Test func unknownTypesStayRaw() throws {
            let record: [UInt8] = [0xC0, 12, 0, 99, 0, 1, 0, 0, 0, 5, 0, 3, 1, 2, 3]
            let message = try DNSMessage(decoding: packet(qd: 1, an: 1, question + record))
            #expect(message.answers.first?.type == DNSRecordType(rawValue: 99))
            #expect(message.answers.first?.data == .unknown([1, 2, 3]))
        }

        @Test func soaDecodes() throws {
            let soa: [UInt8] =
                [0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 60, 0, 24, 0xC0, 12, 0xC0, 12]
                + [0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5]
            let message = try DNSMessage(decoding: packet(qd: 1, ns: 1, question + soa))
            guard case .soa(let value) = message.authorities.first?.data else {
                Issue.record("no SOA")
                return
            }
            #expect(value.minimum == 5)
            #expect(value.primary.description == "a.example")
        }

        struct Hostile: Sendable, CustomTestStringConvertible {
            let name: String
            let bytes: [UInt8]
            let code: DNSWireError.Code
            var testDescription: String { name }
        }

        static let hostile: [Hostile] = {
            let label64 = [UInt8(64)] + Array(repeating: 0x61, count: 64) + [0]
            let label63 = [UInt8(63)] + Array(repeating: UInt8(0x61), count: 63)
            let name256 = label63 + label63 + label63 + label63 + [0]
            let firstQuestion: [UInt8] = [1, 0x61, 0, 0, 1, 0, 1]  // at 12, ends at 19
            return [
                Hostile(name: "empty", bytes: [], code: .truncatedHeader),
                Hostile(
                    name: "11-byte header", bytes: Array(packet([]).prefix(11)),
                    code: .truncatedHeader),
                Hostile(name: "QDCOUNT past the end", bytes: packet(qd: 1, []), code: .truncated),
                Hostile(
                    name: "ANCOUNT larger than the records",
                    bytes: packet(
                        qd: 1, an: 2,
                        question + [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4]),
                    code: .truncated),
                Hostile(
                    name: "65535 answers in a small packet",
                    bytes: packet(an: 0xFFFF, [0, 0, 1, 0, 1]), code: .truncated),
                Hostile(
                    name: "pointer to itself", bytes: packet(qd: 1, [0xC0, 12, 0, 1, 0, 1]),
                    code: .pointerLoop),
                Hostile(
                    name: "pointer loop through a label",
                    bytes: packet(qd: 1, [1, 0x61, 0xC0, 12, 0, 1, 0, 1]), code: .pointerLoop),
                Hostile(
                    name: "forward pointer",
                    bytes: packet(qd: 1, [0xC0, 20, 0, 1, 0, 1, 0, 0, 1, 0x61, 0]),
                    code: .forwardPointer),
                Hostile(
                    name: "pointer into the header", bytes: packet(qd: 1, [0xC0, 4, 0, 1, 0, 1]),
                    code: .pointerIntoHeader),
                Hostile(
                    name: "pointer to a pointer",
                    bytes: packet(
                        qd: 3, firstQuestion + [0xC0, 12, 0, 1, 0, 1] + [0xC0, 19, 0, 1, 0, 1]),
                    code: .pointerToPointer),
                Hostile(
                    name: "label of 64", bytes: packet(qd: 1, label64 + [0, 1, 0, 1]),
                    code: .labelTooLong),
                Hostile(
                    name: "reserved label type 0x80", bytes: packet(qd: 1, [0x80, 0, 0, 1, 0, 1]),
                    code: .labelTooLong),
                Hostile(
                    name: "name over 255 bytes", bytes: packet(qd: 1, name256 + [0, 1, 0, 1]),
                    code: .nameTooLong),
                Hostile(
                    name: "label past the end", bytes: packet(qd: 1, [9, 0x61, 0x62]),
                    code: .truncated),
                Hostile(name: "half a pointer", bytes: packet(qd: 1, [0xC0]), code: .truncated),
                Hostile(
                    name: "RDLENGTH past the end",
                    bytes: packet(
                        qd: 1, an: 1,
                        question + [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 100, 1, 2, 3, 4]),
                    code: .truncated),
                Hostile(
                    name: "short A RDATA",
                    bytes: packet(
                        qd: 1, an: 1, question + [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 3, 1, 2, 3]),
                    code: .badRDATA),
                Hostile(
                    name: "short AAAA RDATA",
                    bytes: packet(
                        qd: 1, an: 1,
                        question + [0xC0, 12, 0, 28, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4]),
                    code: .badRDATA),
                Hostile(
                    name: "empty MX target",
                    bytes: packet(
                        qd: 1, an: 1, question + [0xC0, 12, 0, 15, 0, 1, 0, 0, 0, 5, 0, 2, 0, 10]),
                    code: .badRDATA),
                Hostile(
                    name: "MX target running past RDLENGTH",
                    bytes: packet(
                        qd: 1, an: 1,
                        question + [0xC0, 12, 0, 15, 0, 1, 0, 0, 0, 5, 0, 3, 0, 10, 1, 0x61, 0]),
                    code: .badRDATA),
                Hostile(
                    name: "RDLENGTH longer than the MX",
                    bytes: packet(
                        qd: 1, an: 1,
                        question + [0xC0, 12, 0, 15, 0, 1, 0, 0, 0, 5, 0, 5, 0, 10, 0, 9, 9]),
                    code: .badRDATA),
                Hostile(
                    name: "short SOA",
                    bytes: packet(
                        qd: 1, ns: 1,
                        question + [
                            0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 5, 0, 6, 0xC0, 12, 0xC0, 12, 0, 0,
                        ]), code: .badRDATA),
                Hostile(
                    name: "record header cut",
                    bytes: packet(qd: 1, an: 1, question + [0xC0, 12, 0, 1, 0, 1, 0, 0]),
                    code: .truncated),
                Hostile(
                    name: "trailing bytes", bytes: packet(qd: 1, question + [0xAB]),
                    code: .trailingBytes),
            ]
        }()

        @Test(arguments: hostile)
        func hostilePacketsGiveTypedErrors(_ sample: Hostile) {
            #expect {
                _ = try DNSMessage(decoding: sample.bytes)
            } throws: { error in
                (error as? DNSWireError)?.code == sample.code
            }
        }

        @Test func compressionChainsBackwardsAreFine() throws {
            // b.a.example -> "b" + pointer to a.example at 12, then a pointer to that name.
            let body =
                question + [1, 0x62, 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4]
                + [0xC0, 27, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 5, 6, 7, 8]
            let message = try DNSMessage(decoding: packet(qd: 1, an: 2, body))
            #expect(message.answers.map(\.name.description) == ["b.a.example", "b.a.example"])
        }
    }
}
