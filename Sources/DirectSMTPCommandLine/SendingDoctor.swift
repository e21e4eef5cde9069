import DKIM
import DNSClient
import Foundation
import SPF
import Sockets

/// The checks of `directsmtp doctor`: can this machine deliver authenticated mail
/// straight to an MX? Each check ends `pass`, `warn` or `fail` with one line a developer
/// can act on. DNS goes through the library's own resolver; the only other traffic is one
/// TCP connection to port 25 (or `--port`) of an MX of `mxDomain`, bounded by 5 s.
struct SendingDoctor {
    enum Status: String { case pass, warn, fail }

    struct Check {
        var name: String
        var status: Status
        var detail: String
    }

    var from: String
    var fromDomain: String
    var helo: String
    var dkim: [DKIMOptions.Entry]
    var mxDomain: String
    var port: Int
    var lookup: SPFLookup
    /// How long the port-25 connection may take.
    var connectTimeout: Duration = .seconds(5)

    func run() async -> [Check] {
        var checks: [Check] = []
        let (port25, egress) = await checkPort25()
        checks.append(port25)
        checks.append(await checkPTR(egress))
        checks.append(await checkHELO(egress))
        let dkimChecks = await checkDKIM()
        // A DKIM key that passes for the From domain softens a missing SPF pass to a warning.
        let dkimPasses = zip(dkim, dkimChecks).contains { entry, check in
            check.status != .fail && (entry.signer.domain ?? fromDomain) == fromDomain
        }
        checks.append(await checkSPF(egress, dkimPasses: dkimPasses && !dkim.isEmpty))
        checks += dkimChecks
        checks.append(await checkDMARC())
        return checks
    }

    // MARK: port25

    /// One connection to an MX of `mxDomain`, addresses in the coordinator's order (AAAA
    /// and A interleaved): its local address is the egress address.
    func checkPort25() async -> (Check, IPAddress?) {
        func fail(_ detail: String) -> (Check, IPAddress?) { (Check(name: "port25", status: .fail, detail: detail), nil) }
        let host: String
        switch await lookup(mxDomain, .mx) {
        case .records(let records):
            let hosts = records.compactMap { record -> (UInt16, String)? in
                guard case .mx(let preference, let exchange) = record, !exchange.isRoot else { return nil }
                return (preference, exchange.description)
            }.sorted { $0.0 < $1.0 }
            guard let first = hosts.first else { return fail("\(mxDomain) has a null MX: choose another --mx-domain") }
            host = first.1
        case .nonExistent, .noData:
            host = mxDomain  // implicit MX
        case .failure(let why):
            return fail("cannot look up the MX of \(mxDomain): \(why) (check --dns or /etc/resolv.conf)")
        }
        var v6: [IPAddress] = []
        var v4: [IPAddress] = []
        if case .records(let records) = await lookup(host, .aaaa) {
            v6 = records.compactMap { if case .aaaa(let ip) = $0 { ip } else { nil } }
        }
        if case .records(let records) = await lookup(host, .a) {
            v4 = records.compactMap { if case .a(let ip) = $0 { ip } else { nil } }
        }
        var addresses: [IPAddress] = []
        for index in 0..<max(v6.count, v4.count) {
            if index < v6.count { addresses.append(v6[index]) }
            if index < v4.count { addresses.append(v4[index]) }
        }
        guard !addresses.isEmpty else { return fail("the MX host \(host) of \(mxDomain) has no address") }
        let deadline = ContinuousClock.now + connectTimeout
        var failures: [String] = []
        var timedOut = false
        for ip in addresses.prefix(4) {
            guard ContinuousClock.now < deadline, let address = try? SocketAddress(ip, port: port) else { break }
            do {
                let connection = try await TCPConnection.connect(to: address, deadline: deadline)
                let local = connection.localAddress?.ipAddress
                connection.close()
                let egress = local.map { " from \($0)" } ?? ""
                return (Check(name: "port25", status: .pass, detail: "connected to \(host) [\(ip)] port \(port)\(egress)"), local)
            } catch {
                switch error.code {
                case .timedOut:
                    timedOut = true
                    failures.append("[\(ip)] timed out")
                case .connectionRefused: failures.append("[\(ip)] refused the connection")
                default: failures.append("[\(ip)] \(error.message)")
                }
            }
        }
        let seconds = Double(connectTimeout.components.seconds) + Double(connectTimeout.components.attoseconds) / 1e18
        if timedOut {
            return fail(
                "connecting to \(host) port \(port) timed out after \(seconds) s (egress probably blocked by your provider: AWS, GCP, Azure, DigitalOcean, Hetzner and Linode block port 25 by default; ask them to lift it): \(failures.joined(separator: "; "))")
        }
        return fail("connecting to \(host) port \(port) was refused (the host answered, nothing accepts on that port or a firewall rejects): \(failures.joined(separator: "; "))")
    }

    // MARK: ptr

    func checkPTR(_ egress: IPAddress?) async -> Check {
        guard let egress else {
            return Check(name: "ptr", status: .warn, detail: "not checked: no connection gave the egress address (see port25)")
        }
        let family = egress.isIPv6 ? " (or send over IPv4, whose PTR is usually set: `addressFamilyPreference = .ipv4First`, `--address-family ipv4-first`)" : ""
        guard let reverse = try? DNSName.reverse(egress) else {
            return Check(name: "ptr", status: .fail, detail: "cannot form the reverse name of \(egress)")
        }
        let names: [String]
        switch await lookup(reverse.description, .ptr) {
        case .failure(let why):
            return Check(name: "ptr", status: .fail, detail: "the PTR lookup of \(egress) failed: \(why)")
        case .nonExistent, .noData:
            return Check(
                name: "ptr", status: .fail,
                detail: "\(egress) has no PTR record: ask your hosting provider to set one to \(helo)\(family); Gmail and Microsoft refuse mail without it")
        case .records(let records):
            names = records.compactMap { if case .ptr(let name) = $0 { name.description } else { nil } }
        }
        for name in names where await addresses(of: name, family: egress).contains(egress) {
            return Check(name: "ptr", status: .pass, detail: "\(egress) → \(name) → \(egress)")
        }
        return Check(
            name: "ptr", status: .fail,
            detail: "\(egress) has PTR \(names.joined(separator: ", ")), which does not resolve back to \(egress) (not forward-confirmed): add the \(egress.isIPv6 ? "AAAA" : "A") record\(family)")
    }

    // MARK: helo

    func checkHELO(_ egress: IPAddress?) async -> Check {
        var all: [IPAddress] = []
        var failure: String?
        for type in [DNSRecordType.a, .aaaa] {
            switch await lookup(helo, type) {
            case .records(let records):
                all += records.compactMap {
                    switch $0 {
                    case .a(let ip), .aaaa(let ip): ip
                    default: nil
                    }
                }
            case .failure(let why): failure = why
            case .nonExistent, .noData: break
            }
        }
        if all.isEmpty {
            if let failure {
                return Check(name: "helo", status: .fail, detail: "the lookup of the HELO name \(helo) failed: \(failure)")
            }
            return Check(
                name: "helo", status: .fail,
                detail: "the HELO name \(helo) has no address: use --helo with this machine's public name (the PTR name), which must resolve to it")
        }
        guard let egress else {
            return Check(name: "helo", status: .warn, detail: "\(helo) resolves to \(all.map(\.description).joined(separator: ", ")); not compared with the egress address (see port25)")
        }
        if all.contains(egress) {
            return Check(name: "helo", status: .pass, detail: "\(helo) resolves to the egress address \(egress)")
        }
        return Check(
            name: "helo", status: .warn,
            detail: "\(helo) resolves to \(all.map(\.description).joined(separator: ", ")), not to the egress address \(egress): use the name of this machine's PTR record")
    }

    // MARK: spf

    func checkSPF(_ egress: IPAddress?, dkimPasses: Bool) async -> Check {
        guard let egress else {
            return Check(name: "spf", status: .warn, detail: "not evaluated: no connection gave the egress address (see port25)")
        }
        let evaluation = await SPFEvaluator(lookup: lookup).check(ip: egress, domain: fromDomain, sender: from, helo: helo)
        let fix = "add ip\(egress.isIPv6 ? "6" : "4"):\(egress) to the SPF record of \(fromDomain) (e.g. \"v=spf1 ip\(egress.isIPv6 ? "6" : "4"):\(egress) -all\")"
        switch evaluation.result {
        case .pass:
            return Check(name: "spf", status: .pass, detail: "\(fromDomain) authorizes \(egress): \(evaluation.explanation)")
        case .permerror, .temperror:
            return Check(name: "spf", status: .fail, detail: "\(evaluation.result) for \(fromDomain): \(evaluation.explanation)")
        case .none, .neutral, .softfail, .fail:
            let status: Status = dkimPasses ? .warn : .fail
            let softened = dkimPasses ? " (DKIM passes for \(fromDomain), which Gmail and Yahoo accept instead)" : ""
            return Check(name: "spf", status: status, detail: "\(evaluation.result) for \(egress): \(evaluation.explanation); \(fix)\(softened)")
        }
    }

    // MARK: dkim

    func checkDKIM() async -> [Check] {
        guard !dkim.isEmpty else {
            return [Check(
                name: "dkim", status: .warn,
                detail: "no key given (--dkim-key PATH --dkim-selector NAME): DKIM not checked; sign with RSA 2048 (plus Ed25519) so receivers can authenticate \(fromDomain)")]
        }
        var checks: [Check] = []
        for entry in dkim {
            checks.append(await checkKey(entry))
        }
        return checks
    }

    func checkKey(_ entry: DKIMOptions.Entry) async -> Check {
        let domain = entry.signer.domain ?? fromDomain
        let name = "\(entry.signer.selector)._domainkey.\(domain)"
        let publish = "publish TXT \"\(entry.key.dnsRecord)\" at \(name)"
        let texts: [String]
        switch await lookup(name, .txt) {
        case .failure(let why):
            return Check(name: "dkim", status: .fail, detail: "the TXT lookup of \(name) failed: \(why)")
        case .nonExistent, .noData:
            return Check(name: "dkim", status: .fail, detail: "no key record at \(name): \(publish)")
        case .records(let records):
            texts = records.compactMap { if case .txt(let strings) = $0 { String(decoding: strings.joined(), as: UTF8.self) } else { nil } }
        }
        guard let record = texts.first(where: { $0.contains("p=") }) else {
            return Check(name: "dkim", status: .fail, detail: "the TXT record at \(name) is not a DKIM key record: \(publish)")
        }
        let tags = Self.tags(record)
        let keyType = tags["k"]?.lowercased() ?? "rsa"
        guard keyType == entry.key.algorithm.keyType else {
            return Check(name: "dkim", status: .fail, detail: "\(name) publishes a k=\(keyType) key but \(entry.path) is \(entry.key.algorithm.keyType): \(publish)")
        }
        let published = (tags["p"] ?? "").filter { !$0.isWhitespace }
        guard !published.isEmpty else {
            return Check(name: "dkim", status: .fail, detail: "the key at \(name) is revoked (empty p=): \(publish)")
        }
        guard let bytes = Data(base64Encoded: published), [UInt8](bytes) == entry.key.publicKeyData else {
            return Check(name: "dkim", status: .fail, detail: "the key published at \(name) does not match \(entry.path): \(publish)")
        }
        if entry.key.isWeak {
            return Check(
                name: "dkim", status: .warn,
                detail: "\(name) matches, but the RSA key has \(entry.key.bits) bits: use \(DKIMPrivateKey.recommendedRSABits)")
        }
        return Check(name: "dkim", status: .pass, detail: "\(name) publishes the \(entry.key.algorithm.rawValue) key of \(entry.path) (\(entry.key.bits) bits)")
    }

    // MARK: dmarc

    /// The `--from` domain's DMARC record or, when it has none, the one that governs it
    /// higher up, found by RFC 9989's DNS tree walk (DMARCbis: no public suffix list; the
    /// organizational domain's `sp=`, else `p=`, applies to its subdomains). At most 8
    /// lookups.
    func checkDMARC() async -> Check {
        let exact = "_dmarc.\(fromDomain)"
        let suggestion = "a start: TXT \"v=DMARC1; p=none; rua=mailto:dmarc@\(fromDomain)\" at \(exact)"
        for domain in Self.dmarcTreeWalk(fromDomain) {
            let name = "_dmarc.\(domain)"
            switch await lookup(name, .txt) {
            case .failure(let why):
                return Check(name: "dmarc", status: .warn, detail: "the TXT lookup of \(name) failed: \(why)")
            case .nonExistent, .noData:
                continue
            case .records(let records):
                let texts = records.compactMap { if case .txt(let strings) = $0 { String(decoding: strings.joined(), as: UTF8.self) } else { nil } }
                    .filter { $0.lowercased().hasPrefix("v=dmarc1") }
                if texts.isEmpty { continue }
                guard texts.count == 1 else {
                    return Check(name: "dmarc", status: .fail, detail: "\(name) has \(texts.count) DMARC records; receivers ignore them all: keep one")
                }
                let tags = Self.tags(texts[0])
                let alignment = "DKIM alignment \(tags["adkim"] == "s" ? "strict" : "relaxed"), SPF alignment \(tags["aspf"] == "s" ? "strict" : "relaxed")"
                guard domain != fromDomain else {
                    let policy = tags["p"]?.lowercased() ?? "(none given)"
                    return Check(
                        name: "dmarc", status: .pass,
                        detail: "\(fromDomain) asks p=\(policy) for mail failing DMARC; \(alignment): SPF or DKIM must pass for \(fromDomain)")
                }
                let policy = (tags["sp"] ?? tags["p"])?.lowercased() ?? "(none given)"
                return Check(
                    name: "dmarc", status: .pass,
                    detail: "no record at \(exact); \(domain)'s applies to it (DMARC tree walk): \(tags["sp"] != nil ? "sp" : "p")=\(policy) for mail failing DMARC; \(alignment): SPF or DKIM must pass, aligned with \(domain)")
            }
        }
        return Check(name: "dmarc", status: .warn, detail: "no DMARC record (needed by bulk senders, 5,000+ a day to Gmail, Yahoo or Microsoft): \(suggestion)")
    }

    /// The names whose `_dmarc` record RFC 9989's tree walk asks for, in order: the domain
    /// itself, then (from 8 labels on, shortened to its last 7 first) each parent down to
    /// the top-level domain.
    static func dmarcTreeWalk(_ domain: String) -> [String] {
        var labels = domain.split(separator: ".")
        var names = [domain]
        if labels.count >= 8 { labels = Array(labels.suffix(7)) } else { labels.removeFirst(min(1, labels.count)) }
        while !labels.isEmpty {
            names.append(labels.joined(separator: "."))
            labels.removeFirst()
        }
        return names
    }

    // MARK: helpers

    func addresses(of name: String, family: IPAddress) async -> [IPAddress] {
        guard case .records(let records) = await lookup(name, family.isIPv6 ? .aaaa : .a) else { return [] }
        return records.compactMap {
            switch $0 {
            case .a(let ip), .aaaa(let ip): ip
            default: nil
            }
        }
    }

    /// `tag=value` pairs of a DKIM or DMARC record (RFC 6376 §3.2), names lower-cased.
    static func tags(_ record: String) -> [String: String] {
        var tags: [String: String] = [:]
        for part in record.split(separator: ";") {
            guard let equals = part.firstIndex(of: "=") else { continue }
            let name = part[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            tags[name] = part[part.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        return tags
    }
}
