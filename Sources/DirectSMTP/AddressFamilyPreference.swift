/// Which IP versions the race dials, and in what order (``VerificationCoordinator/Configuration/addressFamilyPreference``).
///
/// A receiver checks the reverse DNS of the address a message comes from (Gmail, Yahoo and
/// Microsoft all require a PTR that resolves back). A server whose IPv6 address has no
/// PTR, as is common on cloud machines, gets `421 4.7.23`/`550 5.7.25` from them over IPv6
/// while its IPv4 address is fine: ``ipv4First`` or ``ipv4Only`` fixes that without
/// turning IPv6 off on the machine. `directsmtp doctor` says when it is needed.
public enum AddressFamilyPreference: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Each MX host's addresses alternate IPv6 and IPv4, IPv6 first (RFC 8305 §4), hosts
    /// in MX preference order. The default.
    case interleaved
    /// Every IPv4 address of every MX host (in MX preference order) before any IPv6 one:
    /// IPv6 only when no IPv4 address answers.
    case ipv4First = "ipv4-first"
    /// IPv4 addresses only; a domain whose MX hosts have only IPv6 addresses is
    /// `deferred(no-reachable-host)` (the choice is ours, not the domain's fault).
    case ipv4Only = "ipv4-only"

    /// The raw value, e.g. `ipv4-first` (the command's `--address-family` takes it).
    public var description: String { rawValue }
}
