import DNSClient
import DirectSMTPTesting
import SPF
import Sockets

/// A small zone for SPF tests, served either straight from a table (pure tests) or by a
/// `MockDNSServer` on loopback through the library's own resolver.
struct SPFZone {
    enum Entry {
        case txt(String)
        case a(String)
        case aaaa(String)
        case mx(Int, String)
        case servfail
        case nxdomain
    }

    var entries: [String: [Entry]]

    /// Answers from the table: NXDOMAIN for unknown names, NODATA for other types.
    var lookup: SPFLookup {
        let entries = self.entries
        return { name, type in
            guard let list = entries[name.lowercased()] else { return .nonExistent }
            var records: [DNSRecordData] = []
            for entry in list {
                switch (entry, type) {
                case (.servfail, _): return .failure("SERVFAIL")
                case (.nxdomain, _): return .nonExistent
                case (.txt(let text), .txt): records.append(.txt([Array(text.utf8)]))
                case (.a(let ip), .a): records.append(.a(IPAddress(ip)!))
                case (.aaaa(let ip), .aaaa): records.append(.aaaa(IPAddress(ip)!))
                case (.mx(let preference, let host), .mx):
                    records.append(.mx(preference: UInt16(preference), exchange: try! DNSName(host)))
                default: break
                }
            }
            return records.isEmpty ? .noData : .records(records)
        }
    }

    /// Loads the zone into `server`.
    func load(into server: MockDNSServer) {
        for (name, list) in entries {
            var texts: [String] = []
            var a: [String] = []
            var aaaa: [String] = []
            var mx: [(preference: Int, host: String)] = []
            for entry in list {
                switch entry {
                case .txt(let text): texts.append(text)
                case .a(let ip): a.append(ip)
                case .aaaa(let ip): aaaa.append(ip)
                case .mx(let preference, let host): mx.append((preference, host))
                case .servfail: server.setBehavior(.servfail, for: name)
                case .nxdomain: server.setNXDOMAIN(name)
                }
            }
            if !texts.isEmpty { server.setTXT(name, texts) }
            if !a.isEmpty { server.setA(name, a) }
            if !aaaa.isEmpty { server.setAAAA(name, aaaa) }
            if !mx.isEmpty { server.setMX(name, mx) }
        }
    }

    func check(_ ip: String, domain: String, sender: String? = nil, helo: String = "mail.example.net")
        async -> SPFEvaluation
    {
        await SPFEvaluator(lookup: lookup).check(
            ip: IPAddress(ip)!, domain: domain, sender: sender ?? "user@\(domain)", helo: helo)
    }
}
