/// Why DNS says definitively that a domain receives no mail (scenario 3, `no-mail-server`).
public enum NoMailServerReason: String, Sendable, Hashable {
    /// NXDOMAIN: the domain does not exist.
    case nonExistentDomain
    /// The domain's only MX record is the null MX `0 .` (RFC 7505).
    case nullMX
    /// No MX record and no A/AAAA record for the domain itself.
    case noAddressRecords
    /// MX records exist, but no MX host name has an address (each NXDOMAIN or NODATA).
    case hostsWithoutAddresses
}
