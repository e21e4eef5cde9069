/// A resource record type (RFC 1035 §3.2.2), open to any 16-bit value.
public struct DNSRecordType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The value on the wire.
    public let rawValue: UInt16
    /// Wraps a raw value.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// IPv4 address.
    public static let a = DNSRecordType(rawValue: 1)
    /// Authoritative name server.
    public static let ns = DNSRecordType(rawValue: 2)
    /// Canonical name (alias).
    public static let cname = DNSRecordType(rawValue: 5)
    /// Start of authority; its MINIMUM bounds negative caching (RFC 2308).
    public static let soa = DNSRecordType(rawValue: 6)
    /// Mail exchanger.
    public static let mx = DNSRecordType(rawValue: 15)
    /// Text.
    public static let txt = DNSRecordType(rawValue: 16)
    /// IPv6 address.
    public static let aaaa = DNSRecordType(rawValue: 28)
    /// EDNS0 pseudo-record (RFC 6891).
    public static let opt = DNSRecordType(rawValue: 41)

    /// A readable form.
    public var description: String {
        switch self {
        case .a: "A"
        case .ns: "NS"
        case .cname: "CNAME"
        case .soa: "SOA"
        case .mx: "MX"
        case .txt: "TXT"
        case .aaaa: "AAAA"
        case .opt: "OPT"
        default: "TYPE\(rawValue)"
        }
    }
}

/// A record class; DirectSMTP only ever asks for ``internet``.
public struct DNSClass: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The value on the wire.
    public let rawValue: UInt16
    /// Wraps a raw value.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// `IN`.
    public static let internet = DNSClass(rawValue: 1)

    /// A readable form.
    public var description: String { self == .internet ? "IN" : "CLASS\(rawValue)" }
}

/// The RCODE of a response header (RFC 1035 §4.1.1).
public struct DNSResponseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The value on the wire.
    public let rawValue: UInt8
    /// Wraps a raw value.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// No error.
    public static let noError = DNSResponseCode(rawValue: 0)
    /// The server could not interpret the query.
    public static let formatError = DNSResponseCode(rawValue: 1)
    /// The server failed (often: it could not reach the authoritative servers).
    public static let serverFailure = DNSResponseCode(rawValue: 2)
    /// The name does not exist (NXDOMAIN).
    public static let nameError = DNSResponseCode(rawValue: 3)
    /// The server does not implement this kind of query.
    public static let notImplemented = DNSResponseCode(rawValue: 4)
    /// The server refuses to answer us.
    public static let refused = DNSResponseCode(rawValue: 5)

    /// A readable form.
    public var description: String {
        switch rawValue {
        case 0: "NOERROR"
        case 1: "FORMERR"
        case 2: "SERVFAIL"
        case 3: "NXDOMAIN"
        case 4: "NOTIMP"
        case 5: "REFUSED"
        default: "RCODE\(rawValue)"
        }
    }
}
