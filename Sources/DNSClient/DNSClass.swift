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
