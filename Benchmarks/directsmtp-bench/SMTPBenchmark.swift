// `smtp send`: full SMTP transactions (connect to QUIT, one message per connection) from
// many concurrent sessions, against the in-process MockSMTPServer or an external server
// (`--target HOST:PORT`, e.g. Postfix's smtp-sink). `smtp roundtrips`: how many reply
// waits a send needs, with a mock that delays every reply. `smtp parse`: reply parser speed.
// `--tls`: the mock offers STARTTLS and every session requires it (TLS 1.3, client and
// server in this one process). `smtp idle-tls`: memory per idle TLS session.

import DirectSMTPTesting
import SMTPClient
import Sockets

#if canImport(Glibc)
import Glibc
#endif

/// User and system CPU time of the whole process so far, in seconds.
func processCPUSeconds() -> (user: Double, system: Double) {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return (seconds(usage.ru_utime), seconds(usage.ru_stime))
}

/// CPU time of the calling thread: unaffected by other processes on a busy machine.
func threadCPUTime() -> Duration {
    var spec = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
    return .seconds(spec.tv_sec) + .nanoseconds(spec.tv_nsec)
}

enum SMTPBenchmark {
    static let usage = """
        usage: directsmtp-bench smtp send [--sessions S] [--messages N] [--target HOST:PORT] [--no-pipelining] [--tls [--tickets N]] [--executor loop|global]
                                          [--server-executor loop|global|own-loop] [--json]
               directsmtp-bench smtp roundtrips [--delay-ms MS] [--sends N] [--no-pipelining] [--tls]
                                                [--probe [--catch-all]] [--json]
               directsmtp-bench smtp idle-tls [--sessions N] [--tickets N] [--json]
               directsmtp-bench smtp tls-listen [--port P] [--seconds S] [--tickets N] [--json]
               directsmtp-bench smtp parse [--replies N] [--json]
        """

    static func run(_ arguments: [String]) async -> Int32 {
        let rest = Array(arguments.dropFirst())
        switch arguments.first {
        case "send": return await send(BenchOptions(rest))
        case "roundtrips": return await roundTrips(BenchOptions(rest))
        case "parse": return parse(BenchOptions(rest))
        case "idle-tls": return await idleTLS(BenchOptions(rest))
        case "tls-listen": return await TLSListenBenchmark.run(BenchOptions(rest))
        default:
            print(usage)
            return 64
        }
    }

    static func message() throws -> (EmailAddress, EmailAddress, MessageData) {
        let from = try EmailAddress("bench@directsmtp.test")
        let to = try EmailAddress("user@example.test")
        let data = Message(from: from, to: to, subject: "Your verification code",
                           text: "Welcome! Your verification code is 123456.\nIt expires in 10 minutes.\n").encoded()
        return (from, to, data)
    }

    /// `--tls`: required (a failure shows), with the mock's name as SNI; else off.
    static func tlsPolicy(_ options: BenchOptions) -> TLSPolicy? {
        guard options.has("--tls") else { return .off }
        guard SMTPSession.tlsAvailable else {
            print("--tls: this build has no TLS (built without the OpenSSL trait)")
            return nil
        }
        return .required
    }

    // MARK: send

    static func send(_ options: BenchOptions) async -> Int32 {
        guard let policy = tlsPolicy(options) else { return 64 }
        let sessions = max(1, options.int("--sessions", default: 100))
        let messages = max(sessions, options.int("--messages", default: 20_000))
        let json = options.has("--json")
        let executorName = options.string("--executor") ?? "loop"
        let executor: (any TaskExecutor)? = executorName == "loop" ? EventLoop.shared : nil
        do {
            var server: MockSMTPServer?
            let target: SocketAddress
            if let text = options.string("--target") {
                target = try SocketAddress(parsing: text, defaultPort: 25)
                guard target.isLoopback else {
                    print("smtp send: --target must be a loopback address (127.0.0.0/8 or ::1)")
                    return 64
                }
            } else {
                var script = MockSMTPScript()
                script.recordsReads = false
                script.pipelining = !options.has("--no-pipelining")
                script.offersStartTLS = policy != .off
                // `--tickets 0`: no session tickets, so every TLS handshake is a full one.
                script.tlsSessionTickets = options.int("--tickets", default: 1)
                // `--server-executor global`: the mock's connections on Swift's pool while
                // the sessions stay on the loop; `own-loop`: on a second event loop (its
                // own thread, sockets and timers), so each end has a loop of its own and
                // the two can use two cores.
                let serverLoop: EventLoop =
                    options.string("--server-executor") == "own-loop" ? EventLoop() : .shared
                let serverExecutor: (any TaskExecutor)? =
                    options.string("--server-executor").map { $0 == "global" ? nil : serverLoop }
                    ?? executor
                let mock = try MockSMTPServer.start(script, loop: serverLoop, executor: serverExecutor)
                server = mock
                target = mock.address
            }
            defer { server?.stop() }
            let configuration = try SMTPSessionConfiguration(heloName: "bench.directsmtp.test")
            let (from, to, data) = try message()
            let clock = ContinuousClock()
            let cpuBefore = processCPUSeconds()
            let start = clock.now
            let outcomes = await withTaskExecutorPreference(executor) {
                await withTaskGroup(of: ([Duration], [SMTPVerdict: Int], String?).self) { group in
                    for worker in 0..<sessions {
                        let share = messages / sessions + (worker < messages % sessions ? 1 : 0)
                        group.addTask {
                            var latencies: [Duration] = []
                            latencies.reserveCapacity(share)
                            var verdicts: [SMTPVerdict: Int] = [:]
                            var firstFailure: String?
                            for _ in 0..<share {
                                let began = clock.now
                                let session = SMTPSession(server: target, configuration: configuration)
                                let result: SMTPResult
                                if let failure = await session.open(tls: policy, serverName: "mock.test") {
                                    result = failure
                                } else {
                                    result = await session.send(from: from, to: to, data: data)
                                }
                                latencies.append(began.duration(to: clock.now))
                                verdicts[result.verdict, default: 0] += 1
                                if result.verdict != .accepted, firstFailure == nil { firstFailure = "\(result)" }
                            }
                            return (latencies, verdicts, firstFailure)
                        }
                    }
                    var all: [Duration] = []
                    var verdicts: [SMTPVerdict: Int] = [:]
                    var failure: String?
                    for await (latencies, counts, firstFailure) in group {
                        all += latencies
                        verdicts.merge(counts, uniquingKeysWith: +)
                        failure = failure ?? firstFailure
                    }
                    return (all, verdicts, failure)
                }
            }
            let elapsed = start.duration(to: clock.now)
            let cpuAfter = processCPUSeconds()
            let summary = LatencySummary(outcomes.0)
            let accepted = outcomes.1[.accepted] ?? 0
            report("smtp send", [
                "target": options.string("--target") ?? "in-process mock",
                "executor": executorName,
                "serverExecutor": options.string("--server-executor") ?? executorName,
                "tls": policy != .off,
                "tickets": policy != .off ? options.int("--tickets", default: 1) : 0,
                "sessions": sessions,
                "messages": summary.count,
                "accepted": accepted,
                "failed": summary.count - accepted,
                "delivered": server.map { $0.deliveryCount } ?? -1,
                "messageBytes": data.bytes.count,
                "seconds": rounded(elapsed.seconds),
                "messagesPerSecond": rounded(Double(accepted) / elapsed.seconds),
                "p50Ms": rounded(summary.p50.milliseconds),
                "p99Ms": rounded(summary.p99.milliseconds),
                "maxMs": rounded(summary.max.milliseconds),
                "cpuUserSeconds": rounded(cpuAfter.user - cpuBefore.user),
                "cpuSystemSeconds": rounded(cpuAfter.system - cpuBefore.system),
                "cpuMsPerMessage": rounded(
                    (cpuAfter.user - cpuBefore.user + cpuAfter.system - cpuBefore.system) * 1000 / Double(max(1, summary.count))),
                "firstFailure": outcomes.2 ?? "none",
                "peakRSSKiB": memoryKiB("VmHWM"),
            ], json: json)
            return accepted == summary.count ? 0 : 1
        } catch {
            print("smtp send benchmark failed: \(error)")
            return 1
        }
    }

    // MARK: roundtrips

    static func roundTrips(_ options: BenchOptions) async -> Int32 {
        guard let policy = tlsPolicy(options) else { return 64 }
        let delay = Duration.milliseconds(max(1, options.int("--delay-ms", default: 20)))
        let sends = max(1, options.int("--sends", default: 10))
        let json = options.has("--json")
        // A probe instead of a send; with --catch-all, the random RCPT in the same group.
        let probe = options.has("--probe") || options.has("--catch-all")
        let catchAll = options.has("--catch-all")
        do {
            var script = MockSMTPScript()
            script.replyDelay = delay
            script.pipelining = !options.has("--no-pipelining")
            script.offersStartTLS = policy != .off
            let server = try MockSMTPServer.start(script)
            defer { server.stop() }
            let configuration = try SMTPSessionConfiguration(heloName: "bench.directsmtp.test")
            let (from, to, data) = try message()
            var waits: [Double] = []
            for _ in 0..<sends {
                let session = SMTPSession(server: server.address, configuration: configuration)
                let clock = ContinuousClock()
                let start = clock.now
                var result = await session.open(tls: policy, serverName: "mock.test")
                    ?? SMTPResult(verdict: .accepted, step: .ehlo)
                if result.verdict == .accepted {
                    result =
                        probe
                        ? await session.probe(
                            from: from, to: to,
                            catchAllProbe: catchAll ? try EmailAddress("x7q2m9k4w8r1t5z3c6v0@example.test") : nil)
                        : await session.send(from: from, to: to, data: data)
                }
                let total = start.duration(to: clock.now)
                let connect = await session.timings[.connect] ?? .zero
                guard result.verdict == .accepted, result.catchAll == (catchAll && script.pipelining ? true : nil) else {
                    print("smtp roundtrips: send failed: \(result)")
                    return 1
                }
                waits.append((total - connect) / delay)
            }
            let mean = waits.reduce(0, +) / Double(waits.count)
            report("smtp roundtrips", [
                "pipelining": script.pipelining,
                "mode": catchAll ? "probe --catch-all" : probe ? "probe" : "send",
                "tls": policy != .off,
                "delayMs": rounded(delay.milliseconds),
                "sends": sends,
                "waitsPerSendMean": rounded(mean),
                "waitsPerSendMax": rounded(waits.max() ?? 0),
                "reading": "elapsed after connect / delay; each wait is one reply batch (greeting, EHLO, group, end of data)",
            ], json: json)
            return 0
        } catch {
            print("smtp roundtrips failed: \(error)")
            return 1
        }
    }

    // MARK: idle-tls

    /// Opens N sessions with TLS (connect, greeting, EHLO, STARTTLS, handshake, EHLO: ready
    /// for MAIL) and holds them: RSS growth per session, both ends included (the mock
    /// server's TLS state lives in this process too).
    static func idleTLS(_ options: BenchOptions) async -> Int32 {
        guard SMTPSession.tlsAvailable else {
            print("smtp idle-tls: this build has no TLS (built without the OpenSSL trait)")
            return 64
        }
        let count = max(1, min(options.int("--sessions", default: 1000), 5000))
        let json = options.has("--json")
        do {
            var script = MockSMTPScript()
            script.recordsReads = false
            script.offersStartTLS = true
            script.tlsSessionTickets = options.int("--tickets", default: 1)
            let server = try MockSMTPServer.start(script)
            defer { server.stop() }
            let configuration = try SMTPSessionConfiguration(heloName: "bench.directsmtp.test")
            // One session first, so one-time costs (contexts, certificate) are not counted.
            let warm = SMTPSession(server: server.address, configuration: configuration)
            _ = await warm.open(tls: .required, serverName: "mock.test")
            await warm.close()
            let before = memoryKiB("VmRSS")
            var sessions: [SMTPSession] = []
            var failures = 0
            var index = 0
            while index < count {
                let batch = min(100, count - index)
                let opened = await withTaskGroup(of: (SMTPSession, Bool).self) { group in
                    for _ in 0..<batch {
                        group.addTask {
                            let session = SMTPSession(server: server.address, configuration: configuration)
                            return (session, await session.open(tls: .required, serverName: "mock.test") == nil)
                        }
                    }
                    var all: [(SMTPSession, Bool)] = []
                    for await item in group { all.append(item) }
                    return all
                }
                for (session, ok) in opened {
                    sessions.append(session)
                    if !ok { failures += 1 }
                }
                index += batch
            }
            let after = memoryKiB("VmRSS")
            for session in sessions { await session.close() }
            report("smtp idle-tls", [
                "sessions": count,
                "failed": failures,
                "rssBeforeKiB": before,
                "rssAfterKiB": after,
                "kiBPerSession": rounded(Double(after - before) / Double(count)),
                "reading": "both ends in this process: client session + mock server connection, TLS 1.3, ready for MAIL",
            ], json: json)
            return failures == 0 ? 0 : 1
        } catch {
            print("smtp idle-tls failed: \(error)")
            return 1
        }
    }

    // MARK: parse

    static func parse(_ options: BenchOptions) -> Int32 {
        let count = max(1000, options.int("--replies", default: 5_000_000))
        let json = options.has("--json")
        let clock = ContinuousClock()

        // Single-line replies, fed in 64 KiB segments.
        let one = Array("250 2.1.0 Ok\r\n".utf8)
        let perChunk = 64 * 1024 / one.count
        var chunk: [UInt8] = []
        for _ in 0..<perChunk { chunk += one }
        var parsed = 0
        var checksum = 0
        var parser = SMTPReplyParser()
        var start = clock.now
        var cpuStart = threadCPUTime()
        do {
            while parsed < count {
                parser.feed(chunk)
                while let reply = try parser.next() {
                    checksum &+= reply.code &+ reply.text.utf8.count
                    parsed += 1
                }
            }
        } catch {
            print("smtp parse failed: \(error)")
            return 1
        }
        let singleElapsed = start.duration(to: clock.now)
        let singleCPU = threadCPUTime() - cpuStart

        // A 10 KiB EHLO reply, parsed whole by a fresh parser each time.
        var ehlo: [UInt8] = Array("250-mx.example.test greets you\r\n".utf8)
        var index = 0
        while ehlo.count < 10 * 1024 - 64 {
            ehlo += Array("250-X-EXTENSION-\(index) PARAMETER-ONE PARAMETER-TWO\r\n".utf8)
            index += 1
        }
        ehlo += Array("250 PIPELINING\r\n".utf8)
        let rounds = 20_000
        var lines = 0
        start = clock.now
        cpuStart = threadCPUTime()
        do {
            for _ in 0..<rounds {
                var fresh = SMTPReplyParser()
                fresh.feed(ehlo)
                if let reply = try fresh.next() { lines &+= reply.text.utf8.count }
            }
        } catch {
            print("smtp parse failed: \(error)")
            return 1
        }
        let ehloElapsed = start.duration(to: clock.now)
        let ehloCPU = threadCPUTime() - cpuStart
        // The same, plus splitting the reply into its lines (as capability parsing does).
        var lineCount = 0
        cpuStart = threadCPUTime()
        do {
            for _ in 0..<rounds {
                var fresh = SMTPReplyParser()
                fresh.feed(ehlo)
                if let reply = try fresh.next() { lineCount &+= reply.lines.count }
            }
        } catch {
            print("smtp parse failed: \(error)")
            return 1
        }
        let withLinesCPU = threadCPUTime() - cpuStart
        report("smtp parse", [
            "singleLineReplies": parsed,
            "repliesPerSecond": rounded(Double(parsed) / singleElapsed.seconds),
            "repliesPerCPUSecond": rounded(Double(parsed) / singleCPU.seconds),
            "ehloBytes": ehlo.count,
            "ehloLines": lineCount / rounds,
            "ehloTextBytes": lines / rounds,
            "ehloMicroseconds": rounded(ehloElapsed.microseconds / Double(rounds)),
            "ehloCPUMicroseconds": rounded(ehloCPU.microseconds / Double(rounds)),
            "ehloWithLinesCPUMicroseconds": rounded(withLinesCPU.microseconds / Double(rounds)),
            "checksum": checksum,
        ], json: json)
        return 0
    }
}
