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
    /// Any other type (OPT, TXT...), RDATA as received.
    case unknown([UInt8])
}
