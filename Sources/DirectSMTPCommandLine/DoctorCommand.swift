import DNSClient
import Foundation
import SMTPClient
import SPF

/// `directsmtp doctor --from ADDR [--helo NAME] [--dkim-key PATH --dkim-selector NAME]...
/// [--mx-domain DOMAIN] [--dns HOST:PORT]... [--port N] [--json]`: checks that this machine
/// can deliver authenticated mail straight to an MX (port25, ptr, helo, spf, dkim, dmarc)
/// and prints one line per check. Exits 0 when none fails, 78 (EX_CONFIG) otherwise.
enum DoctorCommand {
    /// EX_CONFIG (sysexits(3)): the sending side's configuration needs fixing.
    static let configurationError: Int32 = 78

    static let usageText = """
        usage: directsmtp doctor --from ADDR [--helo NAME] [--dkim-key PATH --dkim-selector NAME [--dkim-domain DOMAIN]]...
                                 [--mx-domain DOMAIN] [--dns HOST:PORT]... [--port N] [--json]
        """

    static func run(_ rawArguments: [String]) async -> Int32 {
        let doctor: SendingDoctor
        let json: Bool
        do throws(Arguments.UsageError) {
            let arguments = try Arguments(
                rawArguments,
                valueFlags: DKIMOptions.valueFlags.union(["--from", "--helo", "--mx-domain", "--dns", "--port"]),
                switches: ["--json"])
            guard arguments.positionals.isEmpty else {
                throw Arguments.UsageError(description: "unexpected argument '\(arguments.positionals[0])'")
            }
            guard let fromText = arguments.value("--from") else {
                throw Arguments.UsageError(description: "--from is required")
            }
            let from = try CoordinatorOptions.address(fromText, "--from")
            let helo = arguments.value("--helo") ?? CoordinatorOptions.defaultHeloName()
            var configuration = ResolverConfiguration.system()
            let dns = arguments.values("--dns")
            if !dns.isEmpty {
                do {
                    configuration = ResolverConfiguration(nameservers: try ResolverConfiguration.nameservers(parsing: dns))
                } catch {
                    throw Arguments.UsageError(description: "--dns takes HOST:PORT with a numeric address: \(error)")
                }
            }
            let mxDomain = arguments.value("--mx-domain") ?? "gmail.com"
            guard (try? DNSName(mxDomain)) != nil else {
                throw Arguments.UsageError(description: "--mx-domain '\(mxDomain)' is not a domain name")
            }
            let dkim = try DKIMOptions(arguments)
            let client = DNSQueryClient(configuration: configuration)
            // Each lookup gets 2 s of its own (the port-25 check may have used 5 s before).
            let lookup: SPFLookup = { name, type in
                await SPFEvaluator.lookup(using: client, deadline: .now + .seconds(2))(name, type)
            }
            doctor = SendingDoctor(
                from: from.description, fromDomain: from.domain.lowercased(), helo: helo, dkim: dkim.entries,
                mxDomain: mxDomain, port: try arguments.port("--port") ?? 25, lookup: lookup)
            json = arguments.has("--json")
        } catch {
            printError("directsmtp doctor: \(error.description)")
            printError(usageText)
            return ExitCode.usage
        }
        let checks = await doctor.run()
        if json {
            let objects = checks.map { ["name": $0.name, "status": $0.status.rawValue, "detail": $0.detail] }
            if let data = try? JSONSerialization.data(withJSONObject: ["checks": objects], options: [.sortedKeys, .withoutEscapingSlashes]) {
                print(String(decoding: data, as: UTF8.self))
            }
        } else {
            for check in checks {
                print("\(check.status.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) \(check.name.padding(toLength: 7, withPad: " ", startingAt: 0)) \(check.detail)")
            }
        }
        return checks.contains { $0.status == .fail } ? configurationError : ExitCode.accepted
    }
}
