import DirectSMTP
import Foundation
import SMTPClient

/// `directsmtp send --to ADDR --from ADDR ...`: composes a text message and hands it to the
/// recipient's MX server within the budget. When the budget ends inside the transaction,
/// it prints the deferred verdict at once, waits for the transaction to end, prints the
/// final outcome last and exits with the final outcome's code.
///
/// `send --input FILE [--concurrency N]` sends the same message to each address of FILE
/// as `probe --input` probes them (``BulkProbe``): one JSON line per address, its final
/// outcome (a transaction that outlived the budget is waited for), in the order they
/// finish.
enum SendCommand {
    /// Whom to send to: one address, or each line of a file.
    private enum Recipients {
        case one(EmailAddress)
        case input(path: String, concurrency: Int)
    }

    static func run(_ rawArguments: [String]) async -> Int32 {
        var options: CoordinatorOptions
        let recipients: Recipients
        let from: EmailAddress
        let subject: String
        let coordinator: VerificationCoordinator
        let queuePath: String?
        var body: String
        do throws(Arguments.UsageError) {
            let arguments = try Arguments(
                rawArguments,
                valueFlags: CoordinatorOptions.valueFlags.union(DKIMOptions.valueFlags).union([
                    "--to", "--from", "--subject", "--body", "--body-file", "--queue", "--input",
                    "--concurrency",
                ]),
                switches: CoordinatorOptions.switches)
            guard arguments.positionals.isEmpty else {
                throw Arguments.UsageError(
                    description: "unexpected argument '\(arguments.positionals[0])'")
            }
            switch (arguments.value("--to"), arguments.value("--input")) {
            case (let toText?, nil):
                recipients = .one(try CoordinatorOptions.address(toText, "--to"))
            case (nil, let path?):
                recipients = .input(path: path, concurrency: try BulkProbe.concurrency(arguments))
            case (nil, nil):
                throw Arguments.UsageError(description: "--to (or --input) is required")
            case (_?, _?):
                throw Arguments.UsageError(description: "send takes --to or --input, not both")
            }
            guard let fromText = arguments.value("--from") else {
                throw Arguments.UsageError(description: "--from is required")
            }
            from = try CoordinatorOptions.address(fromText, "--from")
            if arguments.value("--body") != nil, arguments.value("--body-file") != nil {
                throw Arguments.UsageError(description: "give --body or --body-file, not both")
            }
            body =
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
            subject = arguments.value("--subject") ?? "Please verify your address"
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
        let status: Int32
        switch recipients {
        case .one(let to):
            let message = Message(from: from, to: to, subject: subject, text: body)
            status = await deliver(message, with: coordinator, options)
        case .input(let path, let concurrency):
            let (budget, text) = (options.budget, body)
            let bulk = BulkProbe(
                command: "send", coordinator: coordinator,
                attempt: { to in
                    let message = Message(from: from, to: to, subject: subject, text: text)
                    let outcome = await coordinator.send(message, budget: budget)
                    return await coordinator.finalOutcome(for: outcome)
                },
                concurrency: concurrency)
            status = await bulk.run(input: path)
        }
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
