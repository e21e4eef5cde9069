import Sockets

/// A question: which name, type and class the query asks about.
public struct DNSQuestion: Sendable, Hashable {
    /// The name asked about.
    public var name: DNSName
    /// The type asked for.
    public var type: DNSRecordType
    /// The class, normally ``DNSClass/internet``.
    public var recordClass: DNSClass

    /// A question; class IN unless given.
    public init(name: DNSName, type: DNSRecordType, recordClass: DNSClass = .internet) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
    }
}

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

/// One resource record.
public struct DNSRecord: Sendable, Hashable {
    /// The owner name.
    public var name: DNSName
    /// The type on the wire (agrees with ``data`` for the decoded types).
    public var type: DNSRecordType
    /// The class (for OPT: the requestor's UDP payload size).
    public var recordClass: DNSClass
    /// Seconds the record may be cached. A TTL with the high bit set is read as 0
    /// (RFC 2181 §8).
    public var ttl: UInt32
    /// The RDATA.
    public var data: DNSRecordData

    /// A record with every field given.
    public init(name: DNSName, type: DNSRecordType, recordClass: DNSClass = .internet, ttl: UInt32, data: DNSRecordData) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
        self.ttl = ttl
        self.data = data
    }

    /// An A or AAAA record for `address`.
    public static func address(_ name: DNSName, _ address: IPAddress, ttl: UInt32 = 300) -> DNSRecord {
        address.isIPv6
            ? DNSRecord(name: name, type: .aaaa, ttl: ttl, data: .aaaa(address))
            : DNSRecord(name: name, type: .a, ttl: ttl, data: .a(address))
    }

    /// An MX record.
    public static func mx(_ name: DNSName, preference: UInt16, exchange: DNSName, ttl: UInt32 = 300) -> DNSRecord {
        DNSRecord(name: name, type: .mx, ttl: ttl, data: .mx(preference: preference, exchange: exchange))
    }

    /// A CNAME record.
    public static func cname(_ name: DNSName, target: DNSName, ttl: UInt32 = 300) -> DNSRecord {
        DNSRecord(name: name, type: .cname, ttl: ttl, data: .cname(target))
    }

    /// An SOA record.
    public static func soa(_ name: DNSName, _ soa: DNSSOA, ttl: UInt32 = 300) -> DNSRecord {
        DNSRecord(name: name, type: .soa, ttl: ttl, data: .soa(soa))
    }
}
