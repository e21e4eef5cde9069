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
