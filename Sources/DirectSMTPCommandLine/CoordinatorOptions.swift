import DNSClient
import DirectSMTP
import SMTPClient
import Sockets

#if canImport(Glibc)
    import Glibc
#endif

/// The flags `probe` and `send` share (`--helo`, `--dns`, `--port`, `--budget`, `--tls`,
/// `--address-family`, `--json`, `--verbose`), turned into a coordinator configuration. Every
/// check runs before any network traffic; a failure is a usage error (exit 64).
struct CoordinatorOptions {
    static let valueFlags: Set<String> = ["--helo", "--dns", "--port", "--budget", "--tls", "--address-family"]
    static let switches: Set<String> = ["--json", "--verbose"]

    var configuration: VerificationCoordinator.Configuration
    var budget: Duration
    /// When the arguments were parsed: DESIGN.md starts the CLI's budget clock here, so
    /// opening the queue or reading resolv.conf is paid from the budget.
    let parsedAt = ContinuousClock.now
    var json: Bool
    var verbose: Bool

    init(_ arguments: Arguments) throws(Arguments.UsageError) {
        let helo = arguments.value("--helo") ?? Self.defaultHeloName()
        var configuration = VerificationCoordinator.Configuration(heloName: helo)
        // An operator's tool dials what it is told, loopback test servers included.
        configuration.refusesNonPublicAddresses = false
        let dns = arguments.values("--dns")
        if !dns.isEmpty {
            do {
                configuration.nameservers = try ResolverConfiguration.nameservers(parsing: dns)
            } catch {
                throw Arguments.UsageError(
                    description: "--dns takes HOST:PORT with a numeric address: \(error)")
            }
        }
        if let port = try arguments.port("--port") { configuration.smtpPort = port }
        if let family = arguments.value("--address-family") {
            guard let preference = AddressFamilyPreference(rawValue: family) else {
                throw Arguments.UsageError(
                    description: "--address-family takes interleaved, ipv4-first or ipv4-only, not '\(family)'")
            }
            configuration.addressFamilyPreference = preference
        }
        let budget = try arguments.seconds("--budget") ?? configuration.defaultBudget
        configuration.defaultBudget = budget
        if let tls = arguments.value("--tls") {
            guard let policy = TLSPolicy(rawValue: tls) else {
                throw Arguments.UsageError(
                    description: "--tls takes opportunistic, required or off, not '\(tls)'")
            }
            configuration.tlsPolicy = policy
        }
        self.configuration = configuration
        self.budget = budget
        self.json = arguments.has("--json")
        self.verbose = arguments.has("--verbose")
    }

    /// What is left of the budget now (at least 1 ms, so a spent budget still asks the
    /// coordinator for its verdict on the phase reached: none).
    var remainingBudget: Duration {
        max(.milliseconds(1), budget - parsedAt.duration(to: .now))
    }

    /// The coordinator; a bad HELO name is a usage error.
    func makeCoordinator() throws(Arguments.UsageError) -> VerificationCoordinator {
        do {
            return try VerificationCoordinator(configuration: configuration)
        } catch {
            throw Arguments.UsageError(
                description:
                    "the HELO name '\(configuration.heloName)' (--helo, or this machine's host name) cannot be used: \(error)"
            )
        }
    }

    /// An address argument, or a usage error saying what is wrong with it.
    static func address(_ text: String, _ what: String) throws(Arguments.UsageError) -> EmailAddress
    {
        do {
            return try EmailAddress(text)
        } catch {
            throw Arguments.UsageError(
                description:
                    "\(what) '\(text.debugDescription.dropFirst().dropLast())' is not a valid address: \(error)"
            )
        }
    }

    /// The coordinator `queue run` re-sends through: the machine's host name in EHLO,
    /// `--dns` and `--port` as for `send`.
    static func redeliveryCoordinator(nameservers: [String], port: Int?) throws(Arguments
        .UsageError) -> VerificationCoordinator
    {
        var raw: [String] = []
        for nameserver in nameservers { raw += ["--dns", nameserver] }
        if let port { raw += ["--port", String(port)] }
        let options = try CoordinatorOptions(
            Arguments(raw, valueFlags: valueFlags, switches: switches))
        return try options.makeCoordinator()
    }

    /// This machine's host name when it is a valid EHLO argument, else `localhost`.
    static func defaultHeloName() -> String {
        let name = hostName()
        return (try? SMTPSessionConfiguration(heloName: name)) != nil ? name : "localhost"
    }

    /// This machine's host name.
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(
            decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}
