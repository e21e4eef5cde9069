import Sockets

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
    public init(
        name: DNSName, type: DNSRecordType, recordClass: DNSClass = .internet, ttl: UInt32,
        data: DNSRecordData
    ) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
        self.ttl = ttl
        self.data = data
    }

    /// An A or AAAA record for `address`.
    public static func address(_ name: DNSName, _ address: IPAddress, ttl: UInt32 = 300)
        -> DNSRecord
    {
        address.isIPv6
            ? DNSRecord(name: name, type: .aaaa, ttl: ttl, data: .aaaa(address))
            : DNSRecord(name: name, type: .a, ttl: ttl, data: .a(address))
    }

    /// An MX record.
    public static func mx(_ name: DNSName, preference: UInt16, exchange: DNSName, ttl: UInt32 = 300)
        -> DNSRecord
    {
        DNSRecord(
            name: name, type: .mx, ttl: ttl, data: .mx(preference: preference, exchange: exchange))
    }

    /// A CNAME record.
    public static func cname(_ name: DNSName, target: DNSName, ttl: UInt32 = 300) -> DNSRecord {
        DNSRecord(name: name, type: .cname, ttl: ttl, data: .cname(target))
    }

    /// An SOA record.
    public static func soa(_ name: DNSName, _ soa: DNSSOA, ttl: UInt32 = 300) -> DNSRecord {
        DNSRecord(name: name, type: .soa, ttl: ttl, data: .soa(soa))
    }

    /// A TXT record; `text` is split into character-strings of at most 255 bytes.
    public static func txt(_ name: DNSName, _ text: String, ttl: UInt32 = 300) -> DNSRecord {
        var strings: [[UInt8]] = []
        var rest = Array(text.utf8)[...]
        repeat {
            strings.append(Array(rest.prefix(255)))
            rest = rest.dropFirst(255)
        } while !rest.isEmpty
        return DNSRecord(name: name, type: .txt, ttl: ttl, data: .txt(strings))
    }

    /// A PTR record.
    public static func ptr(_ name: DNSName, target: DNSName, ttl: UInt32 = 300) -> DNSRecord {
        DNSRecord(name: name, type: .ptr, ttl: ttl, data: .ptr(target))
    }
}
