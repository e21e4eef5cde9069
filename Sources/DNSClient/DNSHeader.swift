/// The 12-byte message header (RFC 1035 §4.1.1).
public struct DNSHeader: Sendable, Hashable {
    /// The query ID, echoed by the server.
    public var id: UInt16
    /// The raw second and third bytes (QR, OPCODE, AA, TC, RD, RA, Z, RCODE).
    public var flags: UInt16
    /// QDCOUNT.
    public var questionCount: UInt16
    /// ANCOUNT.
    public var answerCount: UInt16
    /// NSCOUNT.
    public var authorityCount: UInt16
    /// ARCOUNT.
    public var additionalCount: UInt16

    /// A header with every field given.
    public init(
        id: UInt16, flags: UInt16, questionCount: UInt16 = 0, answerCount: UInt16 = 0,
        authorityCount: UInt16 = 0, additionalCount: UInt16 = 0
    ) {
        self.id = id
        self.flags = flags
        self.questionCount = questionCount
        self.answerCount = answerCount
        self.authorityCount = authorityCount
        self.additionalCount = additionalCount
    }

    /// QR: `true` for a response.
    public var isResponse: Bool {
        get { flags & 0x8000 != 0 }
        set { set(0x8000, newValue) }
    }
    /// OPCODE (0 for a standard query).
    public var opcode: UInt8 {
        get { UInt8((flags >> 11) & 0x0F) }
        set { flags = (flags & ~0x7800) | (UInt16(newValue & 0x0F) << 11) }
    }
    /// AA: the answer comes from an authoritative server.
    public var isAuthoritative: Bool {
        get { flags & 0x0400 != 0 }
        set { set(0x0400, newValue) }
    }
    /// TC: the answer was truncated; ask again over TCP.
    public var isTruncated: Bool {
        get { flags & 0x0200 != 0 }
        set { set(0x0200, newValue) }
    }
    /// RD: recursion desired.
    public var recursionDesired: Bool {
        get { flags & 0x0100 != 0 }
        set { set(0x0100, newValue) }
    }
    /// RA: recursion available.
    public var recursionAvailable: Bool {
        get { flags & 0x0080 != 0 }
        set { set(0x0080, newValue) }
    }
    /// RCODE (the low 4 bits; EDNS extended bits are not merged).
    public var responseCode: DNSResponseCode {
        get { DNSResponseCode(rawValue: UInt8(flags & 0x000F)) }
        set { flags = (flags & ~0x000F) | UInt16(newValue.rawValue & 0x0F) }
    }

    private mutating func set(_ bit: UInt16, _ on: Bool) {
        flags = on ? flags | bit : flags & ~bit
    }
}
