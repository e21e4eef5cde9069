import DirectSMTP
import DNSClient
import Sockets

/// `directsmtp mx <domain> [--dns HOST:PORT]... [--budget SECONDS] [--json]`: prints the
/// mail hosts of a domain in the order they would be tried, then the other MX records
/// (hosts not asked for beyond the resolver's limit, without addresses, or whose lookup
/// failed): every MX record of the answer, as `dig` would list them.
///
/// Exit codes: 0 mail hosts found; 68 no mail server (NXDOMAIN, null MX, no address,
/// MX hosts without addresses); 75 DNS unavailable (or the budget ran out); 64 bad input.
/// `--dns` replaces the name servers of `/etc/resolv.conf`; the budget (default 3 s)
/// starts once the arguments are parsed.
enum MXCommand {
    static let defaultBudget = Duration.seconds(3)

    static func run(_ raw: [String]) async -> Int32 {
        let domain: String
        let servers: [SocketAddress]
        let budget: Duration
        let json: Bool
        do {
            let arguments = try Arguments(
                raw, valueFlags: ["--dns", "--budget"], switches: ["--json"])
            guard arguments.positionals.count == 1 else {
                throw Arguments.UsageError(description: "mx takes exactly one domain")
            }
            domain = arguments.positionals[0]
            do {
                servers = try ResolverConfiguration.nameservers(parsing: arguments.values("--dns"))
            } catch {
                throw Arguments.UsageError(description: "--dns: \(error.message)")
            }
            budget = try arguments.seconds("--budget") ?? defaultBudget
            json = arguments.has("--json")
        } catch {
            printError(
                "directsmtp mx: \(error)\nusage: directsmtp mx <domain> [--dns HOST:PORT]... [--budget SECONDS] [--json]"
            )
            return ExitCode.usage
        }
        let deadline = ContinuousClock.now + budget
        guard let name = aLabel(domain), (try? DNSName(name)) != nil,
            !domain.utf8.contains(where: { $0 < 0x21 || $0 == 0x7F })
        else {
            printError("directsmtp mx: '\(domain)' is not a domain name")
            return ExitCode.usage
        }
        var configuration =
            servers.isEmpty
            ? ResolverConfiguration.system() : ResolverConfiguration(nameservers: servers)
        // Keep every attempt inside the budget when the budget is short.
        configuration.timeout = min(configuration.timeout, budget)
        let resolver = MXResolver(configuration: configuration, cache: .disabled)
        let lookup = await resolver.mx(for: name, deadline: deadline)
        print(json ? jsonLine(name, lookup) : text(name, lookup))
        switch lookup {
        case .found: return ExitCode.accepted
        case .noMailServer: return ExitCode.noMailServer
        case .dnsUnavailable: return ExitCode.tempFail
        }
    }

    /// DESIGN.md's `mx --json` objects, keys in the documented order.
    static func jsonLine(_ domain: String, _ lookup: MXLookup) -> String {
        switch lookup {
        case .found(let answer):
            let records = listing(answer).map { record in
                let addresses =
                    record.addresses.map { "[" + $0.map { JSONText.string($0) }.joined(separator: ",") + "]" }
                    ?? "null"
                return
                    "{\"host\":\(JSONText.string(record.host)),\"preference\":\(record.preference),\"addresses\":\(addresses)}"
            }
            return
                "{\"domain\":\(JSONText.string(domain)),\"records\":[\(records.joined(separator: ","))],\"nullMX\":false,\"implicit\":\(answer.isImplicit)}"
        case .noMailServer:
            return
                "{\"domain\":\(JSONText.string(domain)),\"outcome\":\"rejected\",\"scenario\":3,\"reason\":\"no-mail-server\"}"
        case .dnsUnavailable:
            return
                "{\"domain\":\(JSONText.string(domain)),\"outcome\":\"deferred\",\"scenario\":1,\"reason\":\"dns-unavailable\"}"
        }
    }

    /// Every MX record of `answer`, preference ascending (the race's order among equals):
    /// the hosts with their addresses; then `[]` for a host without any, `nil` for one not
    /// asked for or whose lookup failed.
    static func listing(_ answer: MXAnswer) -> [(host: String, preference: Int, addresses: [String]?)] {
        let resolved = answer.hosts.map { ($0.name, $0.preference, Optional($0.addresses.map(\.description))) }
        let unresolved = answer.unresolvedHosts.map { host in
            (host.name, host.preference, host.status == .noAddresses ? Optional([String]()) : nil)
        }
        return (resolved + unresolved).enumerated()
            .sorted { ($0.element.1, $0.offset) < ($1.element.1, $1.offset) }
            .map { (host: $0.element.0, preference: $0.element.1, addresses: $0.element.2) }
    }

    static func text(_ domain: String, _ lookup: MXLookup) -> String {
        switch lookup {
        case .found(let answer):
            let others = answer.unresolvedHosts.count
            var lines = [
                "\(domain): \(answer.hosts.count) mail host\(answer.hosts.count == 1 ? "" : "s")\(answer.isImplicit ? " (implicit MX: no MX record, the domain's own address)" : "")"
                    + (others == 0 ? "" : ", and \(others) more MX record\(others == 1 ? "" : "s") without addresses")
            ]
            for record in listing(answer) {
                let addresses =
                    record.addresses.map { $0.isEmpty ? "(no address)" : $0.joined(separator: " ") }
                    ?? "(addresses not looked up)"
                lines.append("  \(record.preference)\t\(record.host)\t\(addresses)")
            }
            return lines.joined(separator: "\n")
        case .noMailServer(let reason):
            let why =
                switch reason {
                case .nonExistentDomain: "the domain does not exist (NXDOMAIN)"
                case .nullMX: "the domain publishes a null MX (RFC 7505): it accepts no mail"
                case .noAddressRecords: "no MX record and no A/AAAA record"
                case .hostsWithoutAddresses: "no MX host has an address"
                }
            return "\(domain): no mail server: \(why) (rejected, no-mail-server)"
        case .dnsUnavailable(let detail):
            return "\(domain): DNS unavailable: \(detail) (deferred, dns-unavailable)"
        }
    }
}
