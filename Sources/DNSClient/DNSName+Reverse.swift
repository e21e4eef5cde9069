import Sockets

extension DNSName {
    /// The name whose PTR record names `address`: `1.2.0.192.in-addr.arpa` for 192.0.2.1,
    /// 32 nibbles under `ip6.arpa` for IPv6 (RFC 1035 §3.5, RFC 3596 §2.5).
    public static func reverse(_ address: IPAddress) throws(DNSWireError) -> DNSName {
        if address.isIPv6 {
            let digits = Array("0123456789abcdef")
            let nibbles = address.bytes.reversed().flatMap {
                [String(digits[Int($0 & 15)]), String(digits[Int($0 >> 4)])]
            }
            return try DNSName(nibbles.joined(separator: ".") + ".ip6.arpa")
        }
        return try DNSName(address.bytes.reversed().map(String.init).joined(separator: ".") + ".in-addr.arpa")
    }
}
