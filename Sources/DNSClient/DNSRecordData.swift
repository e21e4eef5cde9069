import Sockets

/// The decoded RDATA of a record. Types this library does not interpret stay raw bytes.
public enum DNSRecordData: Sendable, Hashable {
    /// An IPv4 address.
    case a(IPAddress)
    /// An IPv6 address.
    case aaaa(IPAddress)
    /// A mail exchanger; an `exchange` of ``DNSName/root`` is a null MX (RFC 7505).
    case mx(preference: UInt16, exchange: DNSName)
    /// An alias.
    case cname(DNSName)
    /// A name server.
    case ns(DNSName)
    /// Start of authority.
    case soa(DNSSOA)
    /// Text: the record's character-strings, each at most 255 bytes (RFC 1035 §3.3.14).
    /// SPF and DKIM records join them without separators (RFC 7208 §3.3).
    case txt([[UInt8]])
    /// A domain name pointer (reverse DNS, RFC 1035 §3.3.12).
    case ptr(DNSName)
    /// Any other type (OPT...), RDATA as received.
    case unknown([UInt8])
}
