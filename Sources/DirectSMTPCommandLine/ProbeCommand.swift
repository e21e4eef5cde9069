import DirectSMTP
import SMTPClient

/// `directsmtp probe <address>`: asks the recipient's MX server whether it would take
/// mail for the address (MAIL, RCPT, RSET, QUIT: nothing is delivered) and exits with the
/// outcome's sysexits code (0, 67, 68, 69, 75; 64 for usage errors). With
/// `--input FILE [--concurrency N]` it probes one address per line instead (``BulkProbe``).
/// `--catch-all` also asks for a random address of the domain in the same pipelined
/// group (no extra round trip): the outcome's `catchAll` says whether the domain takes any.
enum ProbeCommand {
    static func run(_ rawArguments: [String]) async -> Int32 {
        let options: CoordinatorOptions
        let address: EmailAddress
        let from: EmailAddress?
        let catchAll: Bool
        let coordinator: VerificationCoordinator
        do throws(Arguments.UsageError) {
            let arguments = try Arguments(
                rawArguments,
                valueFlags: CoordinatorOptions.valueFlags.union(["--from", "--input", "--concurrency"]),
                switches: CoordinatorOptions.switches.union(["--catch-all"]))
            options = try CoordinatorOptions(arguments)
            catchAll = arguments.has("--catch-all")
            from = try arguments.value("--from").map { text throws(Arguments.UsageError) in
                try CoordinatorOptions.address(text, "--from")
            }
            if let input = arguments.value("--input") {
                guard arguments.positionals.isEmpty else {
                    throw Arguments.UsageError(description: "probe takes an address or --input, not both")
                }
                let coordinator = try options.makeCoordinator()
                let (from, budget) = (from, options.budget)
                let bulk = BulkProbe(
                    command: "probe", coordinator: coordinator,
                    attempt: { await coordinator.probe($0, from: from, budget: budget, catchAll: catchAll) },
                    concurrency: try BulkProbe.concurrency(arguments))
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
        let outcome = await coordinator.probe(
            address, from: from, budget: options.remainingBudget, catchAll: catchAll)
        OutcomeOutput.print(outcome, json: options.json, verbose: options.verbose)
        return outcome.exitCode
    }
}
