import DirectSMTP
import Foundation
import SMTPClient

/// `directsmtp send --to ADDR --from ADDR ...`: composes a text message and hands it to the
/// recipient's MX server within the budget. When the budget ends inside the transaction,
/// it prints the deferred verdict at once, waits for the transaction to end, prints the
/// final outcome last and exits with the final outcome's code.
enum SendCommand {
    /// How long to wait for the final outcome of a transaction that outlived the budget:
    /// longer than its remaining steps at their timeouts, plus the store's own time to
    /// settle the stored message (a short section of the journal, which may first catch
    /// up on what other processes appended). Giving up sooner would exit before the settle and leave a
    /// delivered message in the queue, to be sent again.
    static func finalOutcomeWait(_ coordinator: VerificationCoordinator, _ message: Message)
        -> Duration
    {
        coordinator.transactionBound(messageBytes: message.encoded().bytes.count) + .seconds(30)
    }

    static func run(_ rawArguments: [String]) async -> Int32 {
        let options: CoordinatorOptions
        let message: Message
        let coordinator: VerificationCoordinator
        let queuePath: String?
        do throws(Arguments.UsageError) {
            let arguments = try Arguments(
                rawArguments,
                valueFlags: CoordinatorOptions.valueFlags.union([
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
        var journal: FileJournalQueueStore?
        if let queuePath {
            do {
                journal = try await SendQueue.attach(path: queuePath, to: coordinator)
            } catch {
                printError("directsmtp send: cannot open the queue at \(queuePath): \(error)")
                return QueueFileStatus.exitCode(for: error)
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
        let wait = finalOutcomeWait(coordinator, message)
        guard let final = await coordinator.nextEvent(within: wait) else {
            printError("directsmtp send: no final outcome after \(wait)")
            return outcome.exitCode
        }
        OutcomeOutput.print(final.outcome, json: options.json, verbose: options.verbose)
        return final.outcome.exitCode
    }
}
