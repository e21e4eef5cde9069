import DNSClient
import Sockets

extension MockDNSServer {
    /// Sets the TXT records of `name`, one per string (SPF, DKIM and DMARC records); a
    /// string over 255 bytes is split into several character-strings of one record.
    public func setTXT(_ name: String, _ texts: [String], ttl: UInt32 = 300) {
        guard let owner = try? DNSName(name) else { return }
        setRecords(texts.map { .txt(owner, $0, ttl: ttl) }, for: name, type: .txt)
    }

    /// Sets the PTR record of `address` (its in-addr.arpa or ip6.arpa name) to `hosts`.
    public func setPTR(_ address: String, _ hosts: [String], ttl: UInt32 = 300) {
        guard let ip = IPAddress(address), let owner = try? DNSName.reverse(ip) else { return }
        let records = hosts.compactMap { host in
            (try? DNSName(host)).map { DNSRecord.ptr(owner, target: $0, ttl: ttl) }
        }
        setRecords(records, for: owner.description, type: .ptr)
    }
}
