/// The fields of an SOA record; its TTL and ``minimum`` bound negative caching (RFC 2308).
public struct DNSSOA: Sendable, Hashable {
    /// The primary name server.
    public var primary: DNSName
    /// The responsible mailbox, as a name.
    public var mailbox: DNSName
    /// SERIAL.
    public var serial: UInt32
    /// REFRESH, seconds.
    public var refresh: UInt32
    /// RETRY, seconds.
    public var retry: UInt32
    /// EXPIRE, seconds.
    public var expire: UInt32
    /// MINIMUM: the negative-caching TTL, seconds.
    public var minimum: UInt32

    /// An SOA with every field given.
    public init(
        primary: DNSName, mailbox: DNSName, serial: UInt32, refresh: UInt32, retry: UInt32,
        expire: UInt32, minimum: UInt32
    ) {
        self.primary = primary
        self.mailbox = mailbox
        self.serial = serial
        self.refresh = refresh
        self.retry = retry
        self.expire = expire
        self.minimum = minimum
    }
}
