import DirectSMTP
import SMTPClient

/// `directsmtp probe <address>`: asks the recipient's MX server whether it would take
/// mail for the address (MAIL, RCPT, RSET, QUIT: nothing is delivered) and exits with the
/// outcome's sysexits code (0, 67, 68, 69, 75; 64 for usage errors). With
/// `--input FILE [--concurrency N]` it probes one address per line instead (``BulkProbe``).
enum ProbeCommand {
    static func run(_ rawArguments: [String]) async -> Int32 {
        let options: CoordinatorOptions
        let address: EmailAddress
        let from: EmailAddress?
        let coordinator: VerificationCoordinator
        do throws(Arguments.UsageError) {
            let arguments = try Arguments(
                rawArguments,
                valueFlags: CoordinatorOptions.valueFlags.union(["--from", "--input", "--concurrency"]),
                switches: CoordinatorOptions.switches)
            options = try CoordinatorOptions(arguments)
            from = try arguments.value("--from").map { text throws(Arguments.UsageError) in
                try CoordinatorOptions.address(text, "--from")
            }
            if let input = arguments.value("--input") {
                guard arguments.positionals.isEmpty else {
                    throw Arguments.UsageError(description: "probe takes an address or --input, not both")
                }
                let concurrency = try arguments.value("--concurrency").map {
                    text throws(Arguments.UsageError) in
                    guard let value = Int(text), (1...10_000).contains(value) else {
                        throw Arguments.UsageError(
                            description: "--concurrency takes a whole number from 1 to 10000")
                    }
                    return value
                } ?? 10
                let bulk = BulkProbe(
                    coordinator: try options.makeCoordinator(), from: from, budget: options.budget,
                    concurrency: concurrency)
                return await bulk.run(input: input)
            }
            guard arguments.positionals.count == 1 else {
                throw Arguments.UsageError(description: "probe takes exactly one address")
            }
            address = try CoordinatorOptions.address(arguments.positionals[0], "the address")
            coordinator = try options.makeCoordinator()
        } catch {
            printError("directsmtp probe: \(error.description)")
            printError(usage)
            return ExitCode.usage
        }
        let outcome = await coordinator.probe(address, from: from, budget: options.remainingBudget)
        OutcomeOutput.print(outcome, json: options.json, verbose: options.verbose)
        return outcome.exitCode
    }
}
