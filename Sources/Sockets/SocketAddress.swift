#if canImport(Glibc)
import Glibc
#endif

/// A numeric IPv4 or IPv6 address and a port. Never resolves names: DNS belongs to
/// `DNSClient`, so constructing an address can neither block nor touch the network.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address bytes in network order: 4 for IPv4, 16 for IPv6.
    public let bytes: [UInt8]
    /// The port, 0...65535 (0 asks the kernel to choose when binding).
    public let port: Int

    /// `true` for an IPv6 address.
    public var isIPv6: Bool { bytes.count == 16 }

    /// `true` for a loopback address: 127.0.0.0/8 or ::1 (what mock servers bind to and
    /// benchmarks may send to; an IPv6 address starting with byte 127 is not one).
    public var isLoopback: Bool {
        isIPv6 ? bytes == Array(repeating: 0, count: 15) + [1] : bytes[0] == 127
    }

    /// `true` for a public unicast address: one a host on the internet can have. `false`
    /// for the special-purpose ranges of RFC 6890: unspecified, loopback, private (RFC
    /// 1918, unique local fc00::/7), shared (100.64/10), link-local, documentation,
    /// benchmarking, multicast and reserved, and 2001::/23 (IETF protocol assignments,
    /// Teredo among them). An IPv6 address that carries an IPv4 address the network may
    /// deliver to (IPv4-mapped, NAT64 64:ff9b::/96, 6to4 2002::/16) is judged by that
    /// IPv4 address.
    public var isPublic: Bool {
        if isIPv6 {
            let mapped = bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF
            let nat64 = bytes[0..<12] == [0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0]
            if mapped || nat64 { return Self.isPublicIPv4(Array(bytes[12...])) }
            if bytes[0] == 0x20, bytes[1] == 0x02 { return Self.isPublicIPv4(Array(bytes[2..<6])) }
            if bytes[0] == 0x20, bytes[1] == 0x01, bytes[2] < 0x02 { return false }  // 2001::/23
            if bytes.allSatisfy({ $0 == 0 }) || isLoopback { return false }  // :: and ::1
            if bytes[0] & 0xFE == 0xFC { return false }  // fc00::/7 unique local
            if bytes[0] == 0xFE, bytes[1] & 0xC0 == 0x80 { return false }  // fe80::/10
            if bytes[0] == 0xFF { return false }  // multicast
            if bytes[0] == 0x20, bytes[1] == 0x01, bytes[2] == 0x0D, bytes[3] == 0xB8 {
                return false  // 2001:db8::/32 documentation
            }
            if bytes[0] == 0x3F, bytes[1] == 0xFF, bytes[2] & 0xF0 == 0 {
                return false  // 3fff::/20 documentation (RFC 9637)
            }
            return bytes[0] & 0xE0 == 0x20  // 2000::/3, the global unicast space
        }
        return Self.isPublicIPv4(bytes)
    }

    private static func isPublicIPv4(_ b: [UInt8]) -> Bool {
        switch (b[0], b[1], b[2]) {
        case (0, _, _), (10, _, _), (127, _, _): false
        case (100, 64...127, _): false  // shared address space
        case (169, 254, _): false  // link-local
        case (172, 16...31, _): false
        case (192, 168, _), (192, 0, 0), (192, 0, 2): false
        case (198, 18...19, _), (198, 51, 100), (203, 0, 113): false
        case (224...255, _, _): false  // multicast, reserved, broadcast
        default: true
        }
    }

    /// Parses a numeric address (`"127.0.0.1"`, `"::1"`, `"[::1]"`) and a port.
    /// - Throws: `SocketError/Code/invalidAddress` for a name, garbage or a bad port.
    public init(ip: String, port: Int) throws(SocketError) {
        guard (0...65535).contains(port) else {
            throw SocketError(.invalidAddress, "port \(port) is outside 0...65535")
        }
        guard let bytes = Self.parseNumeric(ip) else {
            throw SocketError(.invalidAddress, "'\(ip)' is not a numeric IP address")
        }
        self.bytes = bytes
        self.port = port
    }

    /// The bytes of `text` (brackets allowed around it) read as inet_pton(3) reads them,
    /// IPv4 then IPv6; `nil` when neither takes it. From the UTF-8 bytes, copied into a
    /// NUL-terminated stack buffer: no `String` copies, no Character walks (an address
    /// literal is parsed on every call of the coordinator).
    private static func parseNumeric(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { utf8 -> [UInt8]? in
            var start = 0
            var end = utf8.count
            if end >= 2, utf8[0] == UInt8(ascii: "["), utf8[end - 1] == UInt8(ascii: "]") {
                start = 1
                end -= 1
            }
            // The longest valid text, IPv6 with an embedded IPv4 address, has 45 bytes.
            let length = end - start
            guard length > 0, length <= 45 else { return nil }
            return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 46) { cString -> [UInt8]? in
                for index in 0..<length {
                    let byte = utf8[start + index]
                    guard byte != 0 else { return nil }
                    cString[index] = CChar(bitPattern: byte)
                }
                cString[length] = 0
                var v4 = in_addr()
                if inet_pton(AF_INET, cString.baseAddress, &v4) == 1 {
                    return withUnsafeBytes(of: &v4) { Array($0) }
                }
                var v6 = in6_addr()
                if inet_pton(AF_INET6, cString.baseAddress, &v6) == 1 {
                    return withUnsafeBytes(of: &v6) { Array($0) }
                }
                return nil
            }
        }
    }

    /// Builds an address from raw network-order bytes (4 or 16 of them).
    public init(bytes: [UInt8], port: Int) throws(SocketError) {
        guard bytes.count == 4 || bytes.count == 16 else {
            throw SocketError(.invalidAddress, "an IP address has 4 or 16 bytes, not \(bytes.count)")
        }
        guard (0...65535).contains(port) else {
            throw SocketError(.invalidAddress, "port \(port) is outside 0...65535")
        }
        self.bytes = bytes
        self.port = port
    }

    /// Parses `"HOST:PORT"`, `"[V6]:PORT"`, or a bare host (then `defaultPort`).
    public init(parsing text: String, defaultPort: Int) throws(SocketError) {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw SocketError(.invalidAddress, "'\(text)' has no closing ']'")
            }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.isEmpty {
                try self.init(ip: host, port: defaultPort)
            } else if rest.hasPrefix(":"), let port = Int(rest.dropFirst()) {
                try self.init(ip: host, port: port)
            } else {
                throw SocketError(.invalidAddress, "'\(text)' is not [IPV6]:PORT")
            }
            return
        }
        let colons = text.filter { $0 == ":" }.count
        if colons == 1, let colon = text.firstIndex(of: ":") {
            guard let port = Int(text[text.index(after: colon)...]) else {
                throw SocketError(.invalidAddress, "'\(text)' has a port that is not a number")
            }
            try self.init(ip: String(text[..<colon]), port: port)
        } else {
            try self.init(ip: text, port: defaultPort)
        }
    }

    /// The address alone, without the port: `192.0.2.1`, `2001:db8::1`.
    public var ip: String {
        if bytes.count == 4 {
            // Written digit by digit into the string's own storage: at most 15 bytes, a
            // small string that allocates nothing (the coordinator formats each address
            // it dials; inet_ntop needed a buffer and two copies).
            return String(unsafeUninitializedCapacity: 15) { Self.writeIPv4(bytes, into: $0, at: 0) }
        }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(INET6_ADDRSTRLEN) + 1) {
            buffer in
            let written = bytes.withUnsafeBytes { raw in
                inet_ntop(AF_INET6, raw.baseAddress, buffer.baseAddress, socklen_t(buffer.count))
            }
            guard written != nil, let start = buffer.baseAddress else { return "?" }
            return String(cString: start)
        }
    }

    /// `127.0.0.1:25` or `[::1]:25`.
    public var description: String {
        guard bytes.count == 4 else { return "[\(ip)]:\(port)" }
        // Written in one pass as `ip` is, into exactly as many bytes as it takes: up to 15
        // of them make a small string, which allocates nothing.
        var length = 4 + Self.decimalLength(port)  // the dots and the colon
        for byte in bytes { length += Self.decimalLength(Int(byte)) }
        return String(unsafeUninitializedCapacity: length) { out in
            let count = Self.writeIPv4(bytes, into: out, at: 0)
            out[count] = UInt8(ascii: ":")
            return Self.writeDecimal(port, into: out, at: count + 1)
        }
    }

    /// How many decimal digits `value` (0...65535) has.
    private static func decimalLength(_ value: Int) -> Int {
        var length = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            length += 1
        }
        return length
    }

    /// Writes the dotted quad of `bytes` (4 of them) at `start`; returns the end.
    private static func writeIPv4(_ bytes: [UInt8], into out: UnsafeMutableBufferPointer<UInt8>, at start: Int) -> Int {
        var count = start
        for index in 0..<4 {
            if index > 0 {
                out[count] = UInt8(ascii: ".")
                count += 1
            }
            count = writeDecimal(Int(bytes[index]), into: out, at: count)
        }
        return count
    }

    /// Writes `value` (0...65535) in decimal at `start`; returns the end.
    private static func writeDecimal(_ value: Int, into out: UnsafeMutableBufferPointer<UInt8>, at start: Int) -> Int {
        var divisor = 1
        while divisor * 10 <= value { divisor *= 10 }
        var count = start
        var rest = value
        while divisor > 0 {
            out[count] = UInt8(ascii: "0") + UInt8(rest / divisor)
            rest %= divisor
            divisor /= 10
            count += 1
        }
        return count
    }

    /// The same address with another port.
    public func with(port: Int) throws(SocketError) -> SocketAddress {
        try SocketAddress(bytes: bytes, port: port)
    }

    var family: Int32 { isIPv6 ? AF_INET6 : AF_INET }

    /// Calls `body` with this address as a `sockaddr`.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        if isIPv6 {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = UInt16(port).bigEndian
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: bytes) }
            return withUnsafePointer(to: &sin6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    body($0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = UInt16(port).bigEndian
            withUnsafeMutableBytes(of: &sin.sin_addr) { $0.copyBytes(from: bytes) }
            return withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
    }

    /// Reads an address the kernel filled in (`accept`, `recvfrom`, `getsockname`).
    init?(storage: sockaddr_storage) {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            let sin = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            var addr = sin.sin_addr
            self.bytes = withUnsafeBytes(of: &addr) { Array($0) }
            self.port = Int(UInt16(bigEndian: sin.sin_port))
        case AF_INET6:
            let sin6 = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            var addr = sin6.sin6_addr
            self.bytes = withUnsafeBytes(of: &addr) { Array($0) }
            self.port = Int(UInt16(bigEndian: sin6.sin6_port))
        default:
            return nil
        }
    }
}
