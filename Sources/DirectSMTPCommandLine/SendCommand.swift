import DirectSMTP
import Foundation
import SMTPClient

/// `directsmtp send --to ADDR --from ADDR ...`: composes a text message and hands it to the
/// recipient's MX server within the budget. When the budget ends inside the transaction,
/// it prints the deferred verdict at once, waits for the transaction to end, prints the
/// final outcome last and exits with the final outcome's code.
enum SendCommand {
    static func run(_ rawArguments: [String]) async -> Int32 {
        var options: CoordinatorOptions
        let message: Message
        let coordinator: VerificationCoordinator
        let queuePath: String?
        do throws(Arguments.UsageError) {
            let arguments = try Arguments(
                rawArguments,
                valueFlags: CoordinatorOptions.valueFlags.union(DKIMOptions.valueFlags).union([
                    "--to", "--from", "--subject", "--body", "--body-file", "--queue",
                ]),
                switches: CoordinatorOptions.switches)
            guard arguments.positionals.isEmpty else {
                throw Arguments.UsageError(
                    description: "unexpected argument '\(arguments.positionals[0])'")
            }
            guard let toText = arguments.value("--to") else {
                throw Arguments.UsageError(description: "--to is required")
            }
            guard let fromText = arguments.value("--from") else {
                throw Arguments.UsageError(description: "--from is required")
            }
            let to = try CoordinatorOptions.address(toText, "--to")
            let from = try CoordinatorOptions.address(fromText, "--from")
            if arguments.value("--body") != nil, arguments.value("--body-file") != nil {
                throw Arguments.UsageError(description: "give --body or --body-file, not both")
            }
            var body =
                arguments.value("--body")
                ?? "This message was sent by directsmtp to verify your address.\n"
            if let path = arguments.value("--body-file") {
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw Arguments.UsageError(description: "cannot read --body-file \(path)")
                }
                body = String(decoding: data, as: UTF8.self)
            }
            options = try CoordinatorOptions(arguments)
            options.configuration.dkimSigners = try DKIMOptions(arguments).signers
            message = Message(
                from: from, to: to,
                subject: arguments.value("--subject") ?? "Please verify your address", text: body)
            queuePath = arguments.value("--queue")
            coordinator = try options.makeCoordinator()
        } catch {
            printError("directsmtp send: \(error.description)")
            printError(usage)
            return ExitCode.usage
        }
        var journal: OpenedQueueStore?
        if let queuePath {
            do {
                journal = try await SendQueue.attach(path: queuePath, to: coordinator)
            } catch {
                printError("directsmtp send: cannot open the queue at \(SendQueue.displayName(queuePath)): \(error)")
                return QueueStoreOpener.exitCode(for: error)
            }
        }
        let status = await deliver(message, with: coordinator, options)
        await journal?.close()
        return status
    }

    /// Sends, prints the outcome (and the final one after a budget-exceeded), and returns
    /// the exit code.
    private static func deliver(
        _ message: Message, with coordinator: VerificationCoordinator, _ options: CoordinatorOptions
    ) async -> Int32 {
        let outcome = await coordinator.send(message, budget: options.remainingBudget)
        guard outcome.reason == .budgetExceeded else {
            OutcomeOutput.print(outcome, json: options.json, verbose: options.verbose)
            return outcome.exitCode
        }
        OutcomeOutput.print(
            outcome, json: options.json, verbose: false,
            note: "the transaction goes on; waiting for its end")
        // The transaction's step timeouts bound this wait, and the queue's settle (it never
        // waits for the journal's lock): exiting sooner would leave a delivered message in
        // the queue, to be sent again.
        let final = await coordinator.finalOutcome(for: outcome)
        OutcomeOutput.print(final, json: options.json, verbose: options.verbose)
        return final.exitCode
    }
}
