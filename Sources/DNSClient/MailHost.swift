import Sockets

/// One mail server for a domain: its name, MX preference and addresses.
public struct MailHost: Sendable, Hashable {
    /// A-label, lower-case, no trailing dot.
    public var name: String
    /// The MX preference (lower first); 0 for an implicit MX.
    public var preference: Int
    /// AAAA and A addresses interleaved, AAAA first (RFC 8305). Never empty in an
    /// ``MXAnswer``.
    public var addresses: [IPAddress]

    /// A host with every field given.
    public init(name: String, preference: Int, addresses: [IPAddress]) {
        self.name = name
        self.preference = preference
        self.addresses = addresses
    }
}
