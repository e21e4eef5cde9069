import DNSClient
import Sockets

/// Evaluates SPF (RFC 7208) for one client address: `check_host(ip, domain, sender)`.
///
/// Mechanisms `all`, `include`, `a`, `mx`, `ip4`, `ip6`, `exists` and `ptr` (which never
/// matches: §5.5 says it SHOULD NOT be used), qualifiers, the `redirect` modifier (`exp`
/// is accepted and ignored), macros (§7: `s l o d i p v h`, with digit, `r` and delimiter
/// transformers), the limit of 10 DNS-querying terms and of 2 void lookups (§4.6.4), both
/// `permerror` when passed. Pure apart from the injected ``SPFLookup``.
///
/// ```swift
/// let evaluator = SPFEvaluator(lookup: SPFEvaluator.lookup(using: client, deadline: .now + .seconds(5)))
/// let result = await evaluator.check(ip: IPAddress("192.0.2.1")!, domain: "example.com",
///                                    sender: "app@example.com", helo: "mail.example.com")
/// ```
public struct SPFEvaluator: Sendable {
    /// Most DNS-querying terms per check (§4.6.4).
    public static let lookupLimit = 10
    /// Most lookups that find nothing per check (§4.6.4).
    public static let voidLookupLimit = 2

    let lookup: SPFLookup

    /// An evaluator asking `lookup`.
    public init(lookup: @escaping SPFLookup) { self.lookup = lookup }

    /// The SPF result for mail from `sender` (`local@domain`; the HELO identity when
    /// checking HELO) connecting from `ip`, `domain` being the sender's domain.
    public func check(ip: IPAddress, domain: String, sender: String, helo: String) async
        -> SPFEvaluation
    {
        var state = State(ip: Self.unmapped(ip), sender: sender, helo: helo)
        let (result, explanation) = await checkHost(domain.lowercased(), &state, depth: 0)
        return SPFEvaluation(
            result: result, explanation: explanation, lookups: state.lookups,
            voidLookups: state.voidLookups)
    }

    struct State {
        var ip: IPAddress
        var sender: String
        var helo: String
        var lookups = 0
        var voidLookups = 0
    }

    struct Failure: Error {
        var result: SPFResult
        var explanation: String
    }

    /// check_host() of §4.
    func checkHost(_ domain: String, _ state: inout State, depth: Int) async -> (SPFResult, String) {
        guard Self.isValidDomain(domain) else {
            return (.none, "'\(domain)' is not a domain name SPF can check")
        }
        let records: [String]
        switch await lookup(domain, .txt) {
        case .failure(let why): return (.temperror, "the TXT lookup of \(domain) failed: \(why)")
        case .nonExistent, .noData: return (.none, "\(domain) has no SPF record")
        case .records(let data):
            records = data.compactMap { item in
                guard case .txt(let strings) = item else { return nil }
                return String(decoding: strings.joined(), as: UTF8.self)
            }.filter(Self.isSPFRecord)
        }
        guard !records.isEmpty else { return (.none, "\(domain) has no SPF record") }
        guard records.count == 1 else {
            return (.permerror, "\(domain) publishes \(records.count) SPF records; only one is allowed")
        }
        do {
            return try await evaluate(records[0], domain: domain, &state, depth: depth)
        } catch {
            return (error.result, error.explanation)
        }
    }

    /// One record's terms, in order (§4.6).
    func evaluate(_ record: String, domain: String, _ state: inout State, depth: Int) async throws(Failure)
        -> (SPFResult, String)
    {
        let terms = record.split(whereSeparator: { $0 == " " }).dropFirst().map(String.init)
        var redirect: String?
        var sawExp = false
        var directives: [(qualifier: SPFResult, name: String, argument: String?, term: String)] = []
        for term in terms {
            // A modifier is name=value, the name starting with a letter (§4.6.1).
            if let equals = term.firstIndex(of: "="),
                term[..<equals].allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }),
                term.first?.isLetter == true, !term[..<equals].contains(":")
            {
                let name = term[..<equals].lowercased()
                let value = String(term[term.index(after: equals)...])
                if name == "redirect" {
                    guard redirect == nil else { throw Failure(result: .permerror, explanation: "\(domain)'s SPF record has two redirect= modifiers") }
                    redirect = value
                } else if name == "exp" {
                    guard !sawExp else { throw Failure(result: .permerror, explanation: "\(domain)'s SPF record has two exp= modifiers") }
                    sawExp = true
                }
                continue
            }
            var body = Substring(term)
            var qualifier = SPFResult.pass
            switch body.first {
            case "+": qualifier = .pass
            case "-": qualifier = .fail
            case "~": qualifier = .softfail
            case "?": qualifier = .neutral
            default: break
            }
            if "+-~?".contains(body.first ?? " ") { body = body.dropFirst() }
            let separator = body.firstIndex { $0 == ":" || $0 == "/" }
            let name = String(body[..<(separator ?? body.endIndex)]).lowercased()
            var argument: String?
            if let separator {
                let from = body[separator] == ":" ? body.index(after: separator) : separator
                argument = String(body[from...])
            }
            guard ["all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"].contains(name) else {
                throw Failure(result: .permerror, explanation: "\(domain)'s SPF record has an unknown term '\(term)'")
            }
            directives.append((qualifier, name, argument, term))
        }
        for directive in directives {
            if try await matches(directive.name, directive.argument, domain: domain, &state, depth: depth, term: directive.term) {
                return (directive.qualifier, "\(directive.term) in \(domain)'s SPF record matched \(state.ip)")
            }
        }
        if let redirect {
            try count(&state, domain)
            let target = try expandDomain(redirect, domain: domain, state)
            guard depth < 20 else { throw Failure(result: .permerror, explanation: "SPF redirects from \(domain) loop") }
            let (result, explanation) = await checkHost(target, &state, depth: depth + 1)
            if result == .none {
                return (.permerror, "redirect=\(target) from \(domain) leads to no SPF record")
            }
            return (result, explanation)
        }
        return (.neutral, "nothing in \(domain)'s SPF record matched \(state.ip)")
    }

    /// Whether one mechanism matches (§5); throws for errors that end the check.
    func matches(
        _ name: String, _ argument: String?, domain: String, _ state: inout State, depth: Int,
        term: String
    ) async throws(Failure) -> Bool {
        switch name {
        case "all":
            return true
        case "ip4", "ip6":
            guard let argument, let (network, prefix) = Self.network(argument, v6: name == "ip6") else {
                throw Failure(result: .permerror, explanation: "'\(term)' in \(domain)'s SPF record is not a valid network")
            }
            return Self.contains(network: network, prefix: prefix, state.ip)
        case "include":
            try count(&state, domain)
            guard let argument else {
                throw Failure(result: .permerror, explanation: "include without a domain in \(domain)'s SPF record")
            }
            let target = try expandDomain(argument, domain: domain, state)
            guard depth < 20 else { throw Failure(result: .permerror, explanation: "SPF includes from \(domain) loop") }
            let (result, explanation) = await checkHost(target, &state, depth: depth + 1)
            switch result {
            case .pass: return true
            case .fail, .softfail, .neutral: return false
            case .temperror: throw Failure(result: .temperror, explanation: explanation)
            case .permerror, .none:
                throw Failure(
                    result: .permerror,
                    explanation: result == .none ? "include:\(target) has no SPF record" : explanation)
            }
        case "a", "mx":
            try count(&state, domain)
            let (spec, v4, v6) = try Self.dualCIDR(argument, term: term, domain: domain)
            let target = try spec.map { spec throws(Failure) in try expandDomain(spec, domain: domain, state) } ?? domain
            let prefix = state.ip.isIPv6 ? v6 : v4
            var hosts = [target]
            if name == "mx" {
                switch await lookup(target, .mx) {
                case .failure(let why): throw Failure(result: .temperror, explanation: "the MX lookup of \(target) failed: \(why)")
                case .nonExistent, .noData:
                    try void(&state, target)
                    return false
                case .records(let data):
                    hosts = data.compactMap { item in
                        guard case .mx(_, let exchange) = item, !exchange.isRoot else { return nil }
                        return exchange.description
                    }
                }
                guard hosts.count <= 10 else {
                    throw Failure(result: .permerror, explanation: "\(target) has more than 10 MX records for '\(term)'")
                }
            }
            for host in hosts {
                let type: DNSRecordType = state.ip.isIPv6 ? .aaaa : .a
                switch await lookup(host, type) {
                case .failure(let why): throw Failure(result: .temperror, explanation: "the \(type) lookup of \(host) failed: \(why)")
                case .nonExistent, .noData:
                    if name == "a" { try void(&state, host) }
                case .records(let data):
                    for item in data {
                        if case .a(let address) = item, Self.contains(network: address, prefix: prefix, state.ip) { return true }
                        if case .aaaa(let address) = item, Self.contains(network: address, prefix: prefix, state.ip) { return true }
                    }
                }
            }
            return false
        case "exists":
            try count(&state, domain)
            guard let argument else {
                throw Failure(result: .permerror, explanation: "exists without a domain in \(domain)'s SPF record")
            }
            let target = try expandDomain(argument, domain: domain, state)
            switch await lookup(target, .a) {
            case .failure(let why): throw Failure(result: .temperror, explanation: "the A lookup of \(target) failed: \(why)")
            case .nonExistent, .noData:
                try void(&state, target)
                return false
            case .records(let data): return !data.isEmpty
            }
        default:  // ptr: counted, never matches (RFC 7208 §5.5 "SHOULD NOT be used").
            try count(&state, domain)
            return false
        }
    }

    func count(_ state: inout State, _ domain: String) throws(Failure) {
        state.lookups += 1
        guard state.lookups <= Self.lookupLimit else {
            throw Failure(
                result: .permerror,
                explanation: "the SPF check needs more than \(Self.lookupLimit) DNS lookups (at \(domain))")
        }
    }

    func void(_ state: inout State, _ name: String) throws(Failure) {
        state.voidLookups += 1
        guard state.voidLookups <= Self.voidLookupLimit else {
            throw Failure(
                result: .permerror,
                explanation: "more than \(Self.voidLookupLimit) SPF lookups found nothing (the last: \(name))")
        }
    }

    func expandDomain(_ spec: String, domain: String, _ state: State) throws(Failure) -> String {
        guard let expanded = SPFMacro.expand(spec, context: SPFMacro.Context(
            sender: state.sender, domain: domain, ip: state.ip, helo: state.helo))
        else {
            throw Failure(result: .permerror, explanation: "'\(spec)' in \(domain)'s SPF record is not a valid macro string")
        }
        var name = expanded.hasSuffix(".") ? String(expanded.dropLast()) : expanded
        // §7.3: drop labels from the left until the name fits.
        while name.utf8.count > 253, let dot = name.firstIndex(of: ".") {
            name = String(name[name.index(after: dot)...])
        }
        return name.lowercased()
    }

    // MARK: Pure helpers

    static func isSPFRecord(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower == "v=spf1" || lower.hasPrefix("v=spf1 ")
    }

    static func isValidDomain(_ domain: String) -> Bool {
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 1 && !domain.isEmpty && domain.utf8.count <= 253
            && labels.allSatisfy { (1...63).contains($0.utf8.count) }
    }

    /// `::ffff:192.0.2.1` is checked as 192.0.2.1 (§5: IPv4-mapped addresses).
    static func unmapped(_ ip: IPAddress) -> IPAddress {
        guard ip.isIPv6, ip.bytes[0..<10].allSatisfy({ $0 == 0 }), ip.bytes[10] == 0xFF, ip.bytes[11] == 0xFF
        else { return ip }
        return IPAddress(bytes: Array(ip.bytes[12...]))!
    }

    /// `192.0.2.0/24` for ip4, `2001:db8::/32` for ip6.
    static func network(_ text: String, v6: Bool) -> (IPAddress, Int)? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])), address.isIPv6 == v6 else {
            return nil
        }
        let maximum = v6 ? 128 : 32
        if parts.count == 2 {
            guard let prefix = Int(parts[1]), (0...maximum).contains(prefix), !parts[1].hasPrefix("0") || parts[1] == "0"
            else { return nil }
            return (address, prefix)
        }
        return (address, maximum)
    }

    /// `a`/`mx` arguments: `[domain-spec][/v4][//v6]`.
    static func dualCIDR(_ argument: String?, term: String, domain: String) throws(Failure) -> (String?, Int, Int) {
        guard let argument else { return (nil, 32, 128) }
        var spec = Substring(argument)
        var v4 = 32
        var v6 = 128
        func bad() -> Failure { Failure(result: .permerror, explanation: "'\(term)' in \(domain)'s SPF record has a bad prefix length") }
        if let range = spec.range(of: "//") {
            guard let value = Int(spec[range.upperBound...]), (0...128).contains(value) else { throw bad() }
            v6 = value
            spec = spec[..<range.lowerBound]
        }
        if let slash = spec.lastIndex(of: "/") {
            guard let value = Int(spec[spec.index(after: slash)...]), (0...32).contains(value) else { throw bad() }
            v4 = value
            spec = spec[..<slash]
        }
        if spec.hasPrefix("/") { spec = spec.dropFirst() }
        return (spec.isEmpty ? nil : String(spec), v4, v6)
    }

    /// Whether `ip` lies in `network/prefix` (same family only).
    static func contains(network: IPAddress, prefix: Int, _ ip: IPAddress) -> Bool {
        guard network.isIPv6 == ip.isIPv6 else { return false }
        var remaining = prefix
        for index in network.bytes.indices where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if network.bytes[index] & mask != ip.bytes[index] & mask { return false }
            remaining -= bits
        }
        return true
    }
}
