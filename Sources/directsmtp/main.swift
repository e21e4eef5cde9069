// directsmtp: the command-line face of DirectSMTP. Each subcommand lives in its own file;
// this file only dispatches. Exit codes follow sysexits(3), as sendmail and Postfix do.

#if canImport(Glibc)
import Glibc
#endif

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

let arguments = Array(CommandLine.arguments.dropFirst())
let status: Int32
switch arguments.first {
case "demo": status = await DemoCommand.run(Array(arguments.dropFirst()))
case "mx": status = await MXCommand.run(Array(arguments.dropFirst()))
case "probe": status = await ProbeCommand.run(Array(arguments.dropFirst()))
case "send": status = await SendCommand.run(Array(arguments.dropFirst()))
case "queue": status = await QueueCommand.run(Array(arguments.dropFirst()))
case "doctor": status = await DoctorCommand.run(Array(arguments.dropFirst()))
case "-h", "--help", "help":
    print(usage)
    status = 0
default:
    printError(usage)
    status = ExitCode.usage
}
exit(status)
