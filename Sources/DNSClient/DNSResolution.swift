import Sockets

/// The answer to "records of type T for name N" after following CNAMEs: either records,
/// or a definite "none" (NXDOMAIN or NODATA) with the negative TTL the SOA allows.
public struct DNSResolution: Sendable, Hashable {
    /// The name asked about.
    public var name: DNSName
    /// The name the records belong to, after CNAMEs (equal to ``name`` without any).
    public var canonicalName: DNSName
    /// `.noError` or `.nameError` (NXDOMAIN, which then applies to ``canonicalName``).
    public var responseCode: DNSResponseCode
    /// The records of the asked type owned by ``canonicalName``; empty for NXDOMAIN/NODATA.
    public var records: [DNSRecord]
    /// How long this result may be cached, seconds: the smallest TTL of the records and
    /// CNAMEs used, or for an empty result min(SOA TTL, SOA MINIMUM) (RFC 2308); `nil`
    /// when an empty result came without an SOA (do not cache it).
    public var ttl: UInt32?

    /// Creates a resolution.
    public init(
        name: DNSName, canonicalName: DNSName, responseCode: DNSResponseCode, records: [DNSRecord],
        ttl: UInt32?
    ) {
        self.name = name
        self.canonicalName = canonicalName
        self.responseCode = responseCode
        self.records = records
        self.ttl = ttl
    }

    /// `true` when the name does not exist.
    public var isNonExistent: Bool { responseCode == .nameError }

    /// The A/AAAA addresses among ``records``.
    public var addresses: [IPAddress] {
        records.compactMap { record in
            switch record.data {
            case .a(let address), .aaaa(let address): address
            default: nil
            }
        }
    }
}
