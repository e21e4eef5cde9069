// `coordinator`: the product's figures, against the mock DNS and SMTP servers on loopback:
// send and probe throughput at C concurrent calls with cached DNS (p50/p99), against bare
// SMTPSessions in the same run, budget
// adherence of concurrent calls against blackholed MX hosts, and the round trips of one
// send when every mock reply costs 20 ms.

import DNSClient
import DirectSMTP
import DirectSMTPTesting
import Foundation
import SMTPClient
import Sockets
import Synchronization

enum CoordinatorBenchmark {
    static func run(_ arguments: [String]) async -> Int32 {
        let options = BenchOptions(arguments)
        let concurrency = max(1, options.int("--concurrency", default: 100))
        let calls = max(concurrency, options.int("--calls", default: 20_000))
        let blackholed = max(1, options.int("--blackholed", default: 1_000))
        let budgetMs = max(50, options.int("--budget-ms", default: 500))
        let json = options.has("--json")
        let only = options.string("--only")
        let rounds = max(1, options.int("--rounds", default: 5))
        // `--side coordinator|raw`: run one side of the throughput comparison only (to
        // profile it alone); the overhead figures are then meaningless.
        let side = options.string("--side")
        // `--floor`: in the coordinator's place, the bare session's work handed to a
        // worker while its caller waits for the answer with a budget timer of the loop
        // (`HandOff`): what any coordinator that answers at a budget pays at the least.
        let floor = options.has("--floor")
        do {
            // --target HOST:PORT: a real SMTP server (Postfix's smtp-sink) instead of the
            // mock; recipients are address literals of its address, so there is no DNS.
            let target = try options.string("--target").map {
                try SocketAddress(parsing: $0, defaultPort: 25)
            }
            // The benchmark floods its target: loopback only (team rule), never a real host.
            if let target, !target.isLoopback {
                print("coordinator: --target must be a loopback address (127.0.0.0/8 or ::1)")
                return 64
            }
            let world = try await BenchWorld.start()
            defer { world.stop() }
            var failed = false
            // Where the calling tasks run. `--executor loop`: the coordinator's callers
            // prefer the socket event loop's thread; by default they run on the global
            // executor, as an application's tasks do. `--raw-executor global`: the bare
            // sessions' tasks run on the global executor; by default they prefer the
            // loop, as in the SMTP benchmark (`smtp send`) whose figure this compares to.
            let executor: (any TaskExecutor)? =
                options.string("--executor") == "loop" ? EventLoop.shared : nil
            let rawExecutor: (any TaskExecutor)? =
                options.string("--raw-executor") == "global" ? nil : EventLoop.shared
            for mode in ["send", "probe"] where only == nil || only == mode {
                failed =
                    try await throughput(
                        world, mode: mode, calls: calls, concurrency: concurrency,
                        rounds: rounds, target: target, side: side, floor: floor,
                        executors: (executor, rawExecutor), json: json)
                    || failed
            }
            if only == nil || only == "budget" {
                failed =
                    try await budget(
                        world, calls: blackholed, budget: .milliseconds(budgetMs), json: json)
                    || failed
            }
            if only == nil || only == "round-trips" {
                failed = try await roundTrips(json: json) || failed
            }
            if only == "starvation" {
                failed =
                    try await StarvationBenchmark.run(
                        calls: options.int("--calls", default: 600),
                        concurrency: options.int("--concurrency", default: 20),
                        budget: .milliseconds(options.int("--budget-ms", default: 300)),
                        json: json) || failed
            }
            return failed ? 1 : 0
        } catch {
            print("coordinator benchmark failed: \(error)")
            return 1
        }
    }

    /// One measured load: `calls` calls, `concurrency` at a time.
    struct LoadRun {
        var perSecond: Double
        var latencies: [Duration]
        var failures: Int
        /// Process CPU time (user + system, every thread) per call, in microseconds: what
        /// the calls cost, less sensitive than throughput to how the two cores are shared.
        /// Against an external `--target` the process runs only the client; against the
        /// mock it includes the mock servers' share.
        var cpuPerCallUs: Double
        /// The user-space part of it: our code and the Swift runtime, without the kernel's
        /// TCP work (the same on both sides, and the noisiest part of the figure).
        var userCpuPerCallUs: Double
    }

    /// Runs `call(index)` for indexes `first..<first + calls`, `concurrency` at a time;
    /// `call` returns whether the call succeeded.
    static func load(
        first: Int, calls: Int, concurrency: Int, executor: (any TaskExecutor)? = nil,
        _ call: @escaping @Sendable (Int) async -> Bool
    ) async -> LoadRun {
        let next = BenchCounter()
        let clock = ContinuousClock()
        let cpuBefore = processCPUSeconds()
        let start = clock.now
        let results = await withTaskGroup(of: ([Duration], Int).self) { group in
            for _ in 0..<concurrency {
                group.addTask(executorPreference: executor) {
                    var latencies: [Duration] = []
                    var failures = 0
                    while true {
                        let index = next.value.add(1, ordering: .relaxed).oldValue
                        guard index < calls else { break }
                        let begin = clock.now
                        let ok = await call(first + index)
                        latencies.append(begin.duration(to: clock.now))
                        if !ok { failures += 1 }
                    }
                    return (latencies, failures)
                }
            }
            return await group.reduce(into: ([Duration](), 0)) {
                $0.0 += $1.0
                $0.1 += $1.1
            }
        }
        let elapsed = start.duration(to: clock.now)
        let cpuAfter = processCPUSeconds()
        let user = cpuAfter.user - cpuBefore.user
        let cpu = user + (cpuAfter.system - cpuBefore.system)
        return LoadRun(
            perSecond: Double(calls) / elapsed.seconds, latencies: results.0, failures: results.1,
            cpuPerCallUs: cpu * 1e6 / Double(calls), userCpuPerCallUs: user * 1e6 / Double(calls))
    }

    /// Sends (or probes) of distinct recipients through the coordinator, DNS cached, and
    /// the same load on bare `SMTPSession`s (open, send or probe, close; no DNS) to the same
    /// mock server, interleaved over `rounds` rounds (each side first in every other
    /// round) so both see the same machine: the best and median round of each and the
    /// coordinator's overhead against the bare sessions.
    static func throughput(
        _ world: BenchWorld, mode: String, calls: Int, concurrency: Int, rounds: Int,
        target: SocketAddress?, side: String? = nil, floor: Bool = false,
        executors: (coordinator: (any TaskExecutor)?, raw: (any TaskExecutor)?), json: Bool
    ) async throws -> Bool {
        var configuration = world.configuration()
        if let target { configuration.smtpPort = target.port }
        let domain = target.map { $0.isIPv6 ? "[IPv6:\($0.ip)]" : "[\($0.ip)]" } ?? "bench.test"
        configuration.concurrencyPerDestination = concurrency * 2
        configuration.probeCache = .disabled
        let coordinator = try VerificationCoordinator(configuration: configuration)
        let session = try SMTPSessionConfiguration(heloName: "client.bench")
        let server = target ?? world.smtp.address
        let from = try EmailAddress("bench@client.bench")
        let send = mode == "send"
        // One bare call: open, send or probe, close.
        @Sendable func bareCall(_ index: Int) async -> Bool {
            guard let to = try? EmailAddress("user\(index)@\(domain)") else { return false }
            let connection = SMTPSession(server: server, configuration: session)
            var result = await connection.open()
            if result == nil {
                result =
                    send
                    ? await connection.send(
                        from: from, to: to,
                        data: Message(from: from, to: to, subject: "Your code", text: "Code \(index).")
                            .encoded())
                    : await connection.probe(from: from, to: to)
            }
            await connection.close()
            return result?.verdict == .accepted
        }
        // On the loop the coordinator's workers use too, whatever `--executor` says.
        let handOff = floor ? HandOff(loop: .shared) : nil
        defer { handOff?.workers.shutdown() }
        // Warm the DNS cache (and the code paths).
        _ = await coordinator.send(
            Message(from: from, to: try EmailAddress("warm@\(domain)"), subject: "w", text: "w"))
        let deliveredBefore = world.smtp.deliveryCount
        let perRound = max(concurrency, calls / rounds)
        var coordinated: [LoadRun] = []
        var bare: [LoadRun] = []
        for round in 0..<rounds {
            // Each side goes first in every other round, so that neither always runs
            // right after the other (its TIME_WAIT sockets, its server-side leftovers).
            for half in round % 2 == 0 ? [0, 1] : [1, 0] {
                if half == 0, side != "raw" {
                    coordinated.append(
                        await load(
                            first: 2 * round * perRound, calls: perRound, concurrency: concurrency,
                            executor: executors.coordinator
                        ) {
                            index in
                            if let handOff { return await handOff.run { await bareCall(index) } }
                            guard let to = try? EmailAddress("user\(index)@\(domain)") else {
                                return false
                            }
                            let outcome =
                                send
                                ? await coordinator.send(
                                    Message(
                                        from: from, to: to, subject: "Your code",
                                        text: "Code \(index)."
                                    ))
                                : await coordinator.probe(to, from: from)
                            return outcome.reason == .accepted
                        })
                }
                if half == 1, side != "coordinator" {
                    bare.append(
                        await load(
                            first: (2 * round + 1) * perRound, calls: perRound,
                            concurrency: concurrency, executor: executors.raw
                        ) { index in
                            await bareCall(index)
                        })
                }
            }
        }
        let delivered = world.smtp.deliveryCount - deliveredBefore
        func summary(_ runs: [LoadRun]) -> (
            best: Double, median: Double, all: LatencySummary, cpuMedian: Double,
            userCpuMedian: Double
        ) {
            let rates = runs.map(\.perSecond).sorted()
            let cpu = runs.map(\.cpuPerCallUs).sorted()
            let user = runs.map(\.userCpuPerCallUs).sorted()
            guard !rates.isEmpty else { return (0, 0, LatencySummary([]), 0, 0) }
            return (
                rates.last ?? 0, rates[rates.count / 2], LatencySummary(runs.flatMap(\.latencies)),
                cpu[cpu.count / 2], user[user.count / 2]
            )
        }
        let mine = summary(coordinated)
        let theirs = summary(bare)
        // Round by round: each coordinator round against the bare round run next to it,
        // so a drift of the machine over the run (other work, the kernel's socket tables)
        // cancels out; the median of these is the steadiest overhead figure.
        func pairedMedian(_ overhead: (LoadRun, LoadRun) -> Double) -> Double {
            let values = zip(coordinated, bare).map(overhead).sorted()
            // No pairs (`--side`): not a measured zero (null in JSON).
            return values.isEmpty ? .nan : values[values.count / 2]
        }
        let pairedOverhead = pairedMedian { 100 * (1 - $0.perSecond / $1.perSecond) }
        let pairedCPUOverhead = pairedMedian { 100 * ($0.cpuPerCallUs / $1.cpuPerCallUs - 1) }
        let pairedUserCPUExtra = pairedMedian { $0.userCpuPerCallUs - $1.userCpuPerCallUs }
        let failures = (coordinated + bare).reduce(0) { $0 + $1.failures }
        report(
            "coordinator-\(mode)",
            [
                "calls": perRound * rounds, "concurrency": concurrency, "rounds": rounds,
                "failures": failures,
                "perSecondBest": rounded(mine.best), "perSecondMedian": rounded(mine.median),
                "p50Ms": rounded(mine.all.p50.milliseconds),
                "p99Ms": rounded(mine.all.p99.milliseconds),
                "maxMs": rounded(mine.all.max.milliseconds),
                "rawSessionPerSecondBest": rounded(theirs.best),
                "rawSessionPerSecondMedian": rounded(theirs.median),
                "rawSessionP99Ms": rounded(theirs.all.p99.milliseconds),
                "server": target.map { "\($0)" } ?? "mock",
                "first": floor ? "hand-off floor" : "coordinator",
                "callers": executors.coordinator == nil ? "global" : "loop",
                "rawCallers": executors.raw == nil ? "global" : "loop",
                "overheadBestPercent": rounded(100 * (1 - mine.best / theirs.best)),
                "overheadMedianPercent": rounded(100 * (1 - mine.median / theirs.median)),
                "cpuPerCallMedianUs": rounded(mine.cpuMedian),
                "rawSessionCpuPerCallMedianUs": rounded(theirs.cpuMedian),
                "cpuOverheadMedianPercent": rounded(100 * (mine.cpuMedian / theirs.cpuMedian - 1)),
                "userCpuPerCallMedianUs": rounded(mine.userCpuMedian),
                "rawSessionUserCpuPerCallMedianUs": rounded(theirs.userCpuMedian),
                "userCpuExtraPerCallPairedMedianUs": rounded(pairedUserCPUExtra),
                "overheadPairedMedianPercent": rounded(pairedOverhead),
                "cpuOverheadPairedMedianPercent": rounded(pairedCPUOverhead),
                "delivered": delivered,
            ], json: json)
        let expected = send && target == nil ? (side == nil ? 2 : 1) * perRound * rounds : 0
        return failures > 0 || delivered != expected
    }

    /// `calls` concurrent sends to a domain whose two MX hosts are blackholed; every call
    /// must return by the budget plus 20 ms.
    static func budget(_ world: BenchWorld, calls: Int, budget: Duration, json: Bool) async throws
        -> Bool
    {
        var configuration = world.configuration()
        configuration.concurrencyPerDestination = calls * 2
        let coordinator = try VerificationCoordinator(configuration: configuration)
        let from = try EmailAddress("bench@client.bench")
        _ = await coordinator.send(
            Message(
                from: from, to: try EmailAddress("warm@bench.test"), subject: "warm", text: "warm"))
        _ = await coordinator.resolver.mx(for: "blackhole.bench")
        let clock = ContinuousClock()
        let start = clock.now
        let results = await withTaskGroup(of: (Duration, OutcomeReason, Duration).self) { group in
            for index in 0..<calls {
                group.addTask {
                    let begin = clock.now
                    guard let to = try? EmailAddress("user\(index)@blackhole.bench") else {
                        return (.zero, .accepted, .zero)
                    }
                    let outcome = await coordinator.send(
                        Message(from: from, to: to, subject: "x", text: "x"), budget: budget)
                    return (begin.duration(to: clock.now), outcome.reason, outcome.elapsed)
                }
            }
            return await group.reduce(into: [(Duration, OutcomeReason, Duration)]()) {
                $0.append($1)
            }
        }
        let inside = LatencySummary(results.map(\.2))
        // From the attempt's answer (its outcome's elapsed time) to the caller's return:
        // the hop from the loop to the caller's task, which the budget must leave short.
        let handOver = LatencySummary(results.map { $0.0 - $0.2 })
        let wall = start.duration(to: clock.now)
        let summary = LatencySummary(results.map(\.0))
        let late = results.filter { $0.0 > budget + .milliseconds(20) }.count
        let wrong = results.filter { $0.1 != .noReachableHost }.count
        report(
            "coordinator-budget",
            [
                "calls": calls, "budgetMs": budget.milliseconds,
                "p50Ms": rounded(summary.p50.milliseconds),
                "p99Ms": rounded(summary.p99.milliseconds),
                "maxMs": rounded(summary.max.milliseconds),
                "lateOver20Ms": late, "notNoReachableHost": wrong,
                "outcomeElapsedP50Ms": rounded(inside.p50.milliseconds),
                "outcomeElapsedMaxMs": rounded(inside.max.milliseconds),
                "handOverP50Ms": rounded(handOver.p50.milliseconds),
                "handOverMaxMs": rounded(handOver.max.milliseconds),
                "wallMs": rounded(wall.milliseconds),
            ], json: json)
        return late > 0 || wrong > 0
    }

    /// One send with 20 ms added to every DNS and SMTP reply and no DNS cache: elapsed time
    /// over 20 ms is the number of round trips waited for (DNS MX + addresses, connect is
    /// free on loopback, greeting, EHLO, MAIL/RCPT/DATA group, end of data).
    static func roundTrips(json: Bool) async throws -> Bool {
        let delay = Duration.milliseconds(20)
        var script = MockSMTPScript()
        script.replyDelay = delay
        script.recordsReads = false
        let smtp = try MockSMTPServer.start(script)
        let dns = try MockDNSServer.start()
        defer {
            smtp.stop()
            dns.stop()
        }
        dns.setMX("slow.bench", [(10, "mx.slow.bench")])
        dns.setA("mx.slow.bench", ["127.0.0.1"])
        dns.setBehavior(.delayed(delay, .answer), for: "slow.bench")
        dns.setBehavior(.delayed(delay, .answer), for: "mx.slow.bench")
        var configuration = VerificationCoordinator.Configuration(
            heloName: "client.bench", nameservers: [dns.address], smtpPort: smtp.port)
        configuration.dnsAttempts = 1
        configuration.refusesNonPublicAddresses = false  // the bench servers are on loopback
        let resolver = MXResolver(
            configuration: configuration.resolverConfiguration, cache: .disabled)
        let coordinator = try VerificationCoordinator(
            configuration: configuration, resolver: resolver)
        let message = Message(
            from: try EmailAddress("bench@client.bench"), to: try EmailAddress("user@slow.bench"),
            subject: "x", text: "x")
        var samples: [Duration] = []
        var phases: [String: Double] = [:]
        for _ in 0..<5 {
            let outcome = await coordinator.send(message)
            guard outcome.reason == .accepted else {
                print("round-trip send failed: \(outcome.json)")
                return true
            }
            samples.append(outcome.elapsed)
            for (phase, duration) in outcome.phaseTimings {
                phases[phase, default: 0] += duration.milliseconds / 5
            }
        }
        let best = samples.min() ?? .zero
        let ratio = best.milliseconds / delay.milliseconds
        report(
            "coordinator-round-trips",
            [
                "replyDelayMs": delay.milliseconds, "bestSendMs": rounded(best.milliseconds),
                "roundTrips": rounded(ratio),
                "phasesMs": phases.mapValues(rounded).sorted { $0.key < $1.key }.map {
                    "\($0.key)=\($0.value)"
                }.joined(separator: " "),
            ], json: json)
        return ratio > 6.5
    }
}

/// The benchmark's loopback world: mock DNS, mock SMTP on 127.0.0.1, and two blackholed
/// MX hosts (backlog-0 listeners with a filler each) on 127.0.0.2 and 127.0.0.3.
struct BenchWorld {
    let dns: MockDNSServer
    let smtp: MockSMTPServer
    let blackholes: [TCPListener]
    let fillers: [TCPConnection]

    static func start() async throws -> BenchWorld {
        var script = MockSMTPScript()
        script.recordsReads = false
        let smtp = try MockSMTPServer.start(script)
        let dns = try MockDNSServer.start()
        var blackholes: [TCPListener] = []
        var fillers: [TCPConnection] = []
        for ip in ["127.0.0.2", "127.0.0.3"] {
            let address = try SocketAddress(ip: ip, port: smtp.port)
            blackholes.append(try TCPListener.bind(to: address, backlog: 0))
            if let filler = try? await TCPConnection.connect(
                to: address, deadline: .now + .milliseconds(300))
            {
                fillers.append(filler)
            }
        }
        dns.setMX("bench.test", [(10, "mx.bench.test")])
        dns.setA("mx.bench.test", ["127.0.0.1"])
        dns.setMX("blackhole.bench", [(10, "mx1.blackhole.bench"), (20, "mx2.blackhole.bench")])
        dns.setA("mx1.blackhole.bench", ["127.0.0.2"])
        dns.setA("mx2.blackhole.bench", ["127.0.0.3"])
        return BenchWorld(dns: dns, smtp: smtp, blackholes: blackholes, fillers: fillers)
    }

    func configuration() -> VerificationCoordinator.Configuration {
        var configuration = VerificationCoordinator.Configuration(
            heloName: "client.bench", nameservers: [dns.address], smtpPort: smtp.port)
        configuration.dnsAttempts = 1
        configuration.refusesNonPublicAddresses = false  // the bench servers are on loopback
        configuration.hostHealthPenalty = .zero
        return configuration
    }

    func stop() {
        for filler in fillers { filler.close() }
        for listener in blackholes { listener.close() }
        smtp.stop()
        dns.stop()
    }
}

/// A shared counter handing out call numbers to the benchmark's workers.
final class BenchCounter: Sendable {
    let value = Atomic<Int>(0)
}

/// The least a coordinator that answers its caller at a budget must do: run the work
/// outside the caller's task (on a worker of a pool, as the coordinator does), and have
/// the caller wait on a continuation that either the work or a budget timer of the loop
/// resumes, first come first served. No rules, no race, no outcome: what the coordinator
/// costs beyond this is what its rules cost.
final class HandOff: Sendable {
    /// One call's answer: the waiting caller or the result that came first.
    private final class Answer: Sendable {
        private enum State {
            case waiting(UnsafeContinuation<Bool, Never>?)
            case answered(Bool)
            case resumed
        }

        private let state = Lock(State.waiting(nil))

        func give(_ result: Bool) {
            let waiter: UnsafeContinuation<Bool, Never>? = state.withLock { state in
                switch state {
                case .waiting(let continuation?):
                    state = .resumed
                    return continuation
                case .waiting(nil):
                    state = .answered(result)
                    return nil
                case .answered, .resumed:
                    return nil
                }
            }
            waiter?.resume(returning: result)
        }

        func wait() async -> Bool {
            await withUnsafeContinuation { continuation in
                let ready: Bool? = state.withLock { state in
                    if case .answered(let result) = state {
                        state = .resumed
                        return result
                    }
                    state = .waiting(continuation)
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }

    let workers: WorkerPool
    private let loop: EventLoop

    init(loop: EventLoop) {
        self.loop = loop
        self.workers = WorkerPool(executor: loop)
    }

    /// Runs `work` on a worker; its result, or `false` if a 30 s budget ends first.
    func run(_ work: @escaping @Sendable () async -> Bool) async -> Bool {
        let answer = Answer()
        let budget = loop.schedule(at: .now + .seconds(30)) { answer.give(false) }
        workers.submit { [loop] in
            let result = await work()
            loop.cancel(budget)
            answer.give(result)
        }
        return await answer.wait()
    }
}
