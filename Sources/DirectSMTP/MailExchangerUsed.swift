/// The MX host an outcome refers to: the one that gave the deciding reply, or the last
/// one tried.
public struct MailExchangerUsed: Sendable, Hashable {
    /// The MX host name (A-label, lower case, no trailing dot), or the address literal.
    public var host: String
    /// The numeric address connected to.
    public var ip: String
    /// The MX preference (0 for an implicit MX or an address literal).
    public var preference: Int

    /// An MX host from its parts.
    public init(host: String, ip: String, preference: Int) {
        self.host = host
        self.ip = ip
        self.preference = preference
    }
}
