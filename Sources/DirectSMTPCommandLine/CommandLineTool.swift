/// The text `directsmtp --help` prints; each command prints it, or its own line, after a
/// usage error.
let usage = """
    usage: directsmtp demo
           directsmtp mx <domain> [--dns HOST:PORT]... [--budget SECONDS] [--json]
           directsmtp probe <address> [--from ADDR] [--helo NAME] [--dns HOST:PORT]... [--port N]
                            [--budget SECONDS] [--tls opportunistic|required|off] [--catch-all]
                            [--address-family interleaved|ipv4-first|ipv4-only] [--json] [--verbose]
           directsmtp probe --input FILE|- [--concurrency N] [--from ADDR] [--helo NAME]
                            [--dns HOST:PORT]... [--port N] [--budget SECONDS] [--catch-all]
           directsmtp send --to ADDR --from ADDR [--subject TEXT] [--body TEXT | --body-file PATH]
                           [--helo NAME] [--dns HOST:PORT]... [--port N] [--budget SECONDS]
                           [--tls opportunistic|required|off] [--address-family interleaved|ipv4-first|ipv4-only]
                           [--dkim-key PATH --dkim-selector NAME [--dkim-domain DOMAIN]]...
                           [--queue PATH] [--json] [--verbose]
           directsmtp send --input FILE|- [--concurrency N] --from ADDR [same options as above]
           directsmtp queue list|run|purge --queue PATH [--all] [--max-age SECONDS]
                            [--dns HOST:PORT]... [--port N] [--json]
           directsmtp doctor --from ADDR [--helo NAME] [--dkim-key PATH --dkim-selector NAME]...
                             [--mx-domain DOMAIN] [--dns HOST:PORT]... [--port N] [--json]
    """

/// The `directsmtp` command line as a library: the `directsmtp` executable is one call to
/// ``run(_:queueStores:)``, and a program that adds a queue store (such as
/// `directsmtp-postgres`, which takes a `postgresql://` URL where `--queue PATH` goes) is
/// another, with its own ``QueueStoreOpener``. Output, JSON and exit codes (sysexits(3))
/// are the same whichever store holds the queue.
///
/// ```swift
/// import DirectSMTPCommandLine
///
/// let status = await CommandLineTool.run(Array(CommandLine.arguments.dropFirst()))
/// exit(status)
/// ```
public enum CommandLineTool {
    /// Runs one command (`demo`, `mx`, `probe`, `send`, `queue`, `doctor`, `help`) with its
    /// arguments (the program's name left out) and returns the exit status.
    ///
    /// - Parameters:
    ///   - arguments: the command and its flags, e.g. `["probe", "jane@example.com", "--json"]`.
    ///   - queueStores: opens the store a `--queue` value names when it is not a journal
    ///     file's path; the default knows only journal files.
    /// - Returns: 0 for success, otherwise a sysexits(3) code as the README's table gives.
    public static func run(_ arguments: [String], queueStores: QueueStoreOpener = .journalFilesOnly)
        async -> Int32
    {
        await QueueStoreOpener.$current.withValue(queueStores) {
            await dispatch(arguments, help: queueStores.help)
        }
    }

    private static func dispatch(_ arguments: [String], help: String?) async -> Int32 {
        let rest = Array(arguments.dropFirst())
        switch arguments.first {
        case "demo": return await DemoCommand.run(rest)
        case "mx": return await MXCommand.run(rest)
        case "probe": return await ProbeCommand.run(rest)
        case "send": return await SendCommand.run(rest)
        case "queue": return await QueueCommand.run(rest)
        case "doctor": return await DoctorCommand.run(rest)
        case "-h", "--help", "help":
            print(usage)
            if let help { print(help) }
            return ExitCode.accepted
        default:
            printError(usage)
            return ExitCode.usage
        }
    }
}
