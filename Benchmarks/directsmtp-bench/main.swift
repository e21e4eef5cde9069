// directsmtp-bench: the bundled benchmark harness. Every performance figure the project
// quotes comes from here, in a release build. Each benchmark lives in its own file.

#if canImport(Glibc)
import Glibc
#endif

let benchUsage = """
    usage: directsmtp-bench coordinator [--calls N] [--concurrency C] [--rounds R] [--blackholed N]
                                       [--budget-ms MS] [--only send|probe|budget|round-trips|starvation]
                                       [--target HOST:PORT] [--executor loop|global] [--raw-executor loop|global]
                                       [--side coordinator|raw] [--floor] [--json]
           directsmtp-bench echo [--connections C] [--requests N] [--size BYTES] [--json]
           directsmtp-bench hold [--connections C] [--json]
           directsmtp-bench timeouts [--operations N] [--json]
           directsmtp-bench dns [cached|uncached|decode|all] [--tasks N] [--lookups N] [--queries N] [--concurrency C] [--decodes N] [--json]
           directsmtp-bench smtp send|roundtrips|parse [options] [--json]
           directsmtp-bench queue enqueue [--count N] [--concurrency C] [--size BYTES] [--journal PATH] [--json]
           directsmtp-bench queue drain [--count N] [--concurrency C] [--size BYTES] [--journal PATH] [--json]
           directsmtp-bench queue recover [--entries N] [--size BYTES] [--rounds R] [--journal PATH] [--json]
           directsmtp-bench dkim [--seconds CPU_S] [--rsa-key PATH] [--ed25519-key PATH] [--json]
           directsmtp-bench large [--megabytes MB] [--read-mbps MBPS] [--json]
           directsmtp-bench chaos [--sessions N] [--seed S] [--budget MS] [--step-timeout MS] [--lanes L] [--slack MS] [--rounds R] [--json]
    """

let benchArguments = Array(CommandLine.arguments.dropFirst())
let benchStatus: Int32
switch benchArguments.first {
case "coordinator": benchStatus = await CoordinatorBenchmark.run(Array(benchArguments.dropFirst()))
case "echo": benchStatus = await EchoBenchmark.run(Array(benchArguments.dropFirst()))
case "hold": benchStatus = await HoldBenchmark.run(Array(benchArguments.dropFirst()))
case "timeouts": benchStatus = await TimeoutBenchmark.run(Array(benchArguments.dropFirst()))
case "dns": benchStatus = await DNSBenchmark.run(Array(benchArguments.dropFirst()))
case "smtp": benchStatus = await SMTPBenchmark.run(Array(benchArguments.dropFirst()))
case "queue": benchStatus = await QueueBenchmark.run(Array(benchArguments.dropFirst()))
case "dkim": benchStatus = await DKIMBenchmark.run(Array(benchArguments.dropFirst()))
case "chaos": benchStatus = await ChaosBenchmark.run(Array(benchArguments.dropFirst()))
case "large": benchStatus = await LargeMessageBenchmark.run(Array(benchArguments.dropFirst()))
default:
    print(benchUsage)
    benchStatus = benchArguments.isEmpty ? 0 : 64
}
exit(benchStatus)
