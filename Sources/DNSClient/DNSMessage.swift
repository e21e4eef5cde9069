/// A whole DNS message: header, questions and the three record sections.
///
/// Decoding is total and fast (one pass, no per-byte allocation, names copied once into
/// ``DNSName``'s compact form); encoding compresses names.
///
/// ```swift
/// let query = DNSMessage.query(id: 0x1234, name: try DNSName("example.com"), type: .mx)
/// let bytes = query.encoded()                    // with an EDNS0 OPT record, 1232 bytes
/// let reply = try DNSMessage(decoding: datagram) // throws DNSWireError
/// ```
public struct DNSMessage: Sendable, Hashable {
    /// The header; its counts are recomputed by ``encoded()``.
    public var header: DNSHeader
    /// Usually exactly one.
    public var questions: [DNSQuestion]
    /// The answer section.
    public var answers: [DNSRecord]
    /// The authority section (an SOA here sets the negative TTL).
    public var authorities: [DNSRecord]
    /// The additional section (OPT lives here).
    public var additionals: [DNSRecord]

    /// A message with every part given.
    public init(
        header: DNSHeader, questions: [DNSQuestion] = [], answers: [DNSRecord] = [],
        authorities: [DNSRecord] = [], additionals: [DNSRecord] = []
    ) {
        self.header = header
        self.questions = questions
        self.answers = answers
        self.authorities = authorities
        self.additionals = additionals
    }

    /// The EDNS0 UDP payload size this library advertises (RFC 6891, DNS flag day 2020).
    public static let ednsPayloadSize: UInt16 = 1232

    /// A recursive query for `name`/`type` with an EDNS0 OPT record advertising
    /// `payloadSize` bytes (`nil`: no OPT record).
    public static func query(
        id: UInt16, name: DNSName, type: DNSRecordType, payloadSize: UInt16? = ednsPayloadSize
    ) -> DNSMessage {
        var header = DNSHeader(id: id, flags: 0)
        header.recursionDesired = true
        var message = DNSMessage(header: header, questions: [DNSQuestion(name: name, type: type)])
        if let payloadSize {
            message.additionals = [
                DNSRecord(
                    name: .root, type: .opt, recordClass: DNSClass(rawValue: payloadSize), ttl: 0,
                    data: .unknown([]))
            ]
        }
        return message
    }

    /// Decodes a message. Every byte must belong to the header, a question or a record.
    /// - Throws: ``DNSWireError`` for anything malformed; never traps, never loops.
    public init(decoding bytes: [UInt8]) throws(DNSWireError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(DNSWireError) in try DNSMessage(decoding: raw) }
        }
        self = try result.get()
    }

    /// Decodes a message from raw memory (see ``init(decoding:)-([UInt8])``).
    public init(decoding raw: UnsafeRawBufferPointer) throws(DNSWireError) {
        var reader = DNSWireReader(raw)
        self = try reader.message()
    }

    /// Decodes only the header (for a quick ID check before the full decode).
    public static func header(of bytes: [UInt8]) throws(DNSWireError) -> DNSHeader {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(DNSWireError) in
                var reader = DNSWireReader(raw)
                return try reader.header()
            }
        }
        return try result.get()
    }

    /// The wire form, header counts taken from the sections; names compressed unless
    /// `compress` is `false` (cheaper for a query, whose one name gains nothing).
    public func encoded(compress: Bool = true) -> [UInt8] {
        var writer = DNSWireWriter(
            compress: compress, capacity: compress ? 512 : 64 + questions.count * 260)
        writer.write(self)
        return writer.bytes
    }
}
