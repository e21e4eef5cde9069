#if canImport(Glibc)
import Glibc
#endif

/// A numeric IPv4 or IPv6 address without a port: what a DNS A or AAAA record holds.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// Network-order bytes: 4 for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    /// `true` for IPv6.
    public var isIPv6: Bool { bytes.count == 16 }

    /// From raw bytes; `nil` unless there are exactly 4 or 16.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses `192.0.2.1`, `2001:db8::1` or `[2001:db8::1]`; `nil` for anything else.
    public init?(_ text: String) {
        guard let address = try? SocketAddress(ip: text, port: 0) else { return nil }
        self.bytes = address.bytes
    }

    /// The conventional text form.
    public var description: String {
        // The bytes are valid by construction, so this cannot fail.
        (try? SocketAddress(bytes: bytes, port: 0))?.ip ?? "?"
    }
}

extension SocketAddress {
    /// The address part alone.
    public var ipAddress: IPAddress { IPAddress(bytes: bytes)! }

    /// `ip` at `port`.
    public init(_ ip: IPAddress, port: Int) throws(SocketError) {
        try self.init(bytes: ip.bytes, port: port)
    }
}
