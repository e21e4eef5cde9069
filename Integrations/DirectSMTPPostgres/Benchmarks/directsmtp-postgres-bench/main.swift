// directsmtp-postgres-bench: how fast the PostgreSQL queue store is, beside what the same
// server does with pgbench in the same run.
//
//   scripts/with-postgres.sh swift run -c release directsmtp-postgres-bench [--seconds 5]
//       [--callers 8] [--workers 4] [--batch 16] [--rows 1000000] [--due 1000] [--samples 2000]
//       [--no-pgbench] [--no-million] [--concurrent-batches 4] [--claims-wait-for-flush]
//
// Phases, each bounded in time and count, against DIRECTSMTP_POSTGRES_URL (loopback only):
//  1. durable enqueues from --callers concurrent callers, --seconds long;
//  2. claim + complete of those entries by --workers workers (claims of --batch; each claimed
//     entry completed by its own call, concurrently, as DeliveryQueue settles each re-send
//     from its own task: the store group-commits them);
//  3. `pgbench -b simple-update` with --callers clients, --seconds long;
//  4. claim latency in a table of --rows rows of which --due are due (each sample claims one
//     entry and puts it back due, so --due stay due), beside the latency of `SELECT 1`.
import DirectSMTP
import DirectSMTPPostgres
import Foundation
import PostgresNIO
import Synchronization

struct Options {
    var seconds = 5.0
    var callers = 8
    var workers = 4
    var batch = 16
    var rows = 1_000_000
    var due = 1_000
    var samples = 2_000
    var pgbench = true
    var million = true
    var concurrentBatches = PostgresQueueStore.Configuration().maxConcurrentBatches
    var claimsWaitForFlush = false

    init(_ arguments: [String]) throws {
        var iterator = arguments.makeIterator()
        func value(_ name: String) throws -> String {
            guard let value = iterator.next() else { throw BenchError("\(name) needs a value") }
            return value
        }
        func int(_ name: String) throws -> Int {
            guard let number = Int(try value(name)), number > 0 else { throw BenchError("\(name) needs a positive integer") }
            return number
        }
        while let argument = iterator.next() {
            switch argument {
            case "--seconds":
                guard let number = Double(try value(argument)), number > 0, number <= 120 else {
                    throw BenchError("--seconds must be in (0, 120]")
                }
                seconds = number
            case "--callers": callers = min(try int(argument), 64)
            case "--workers": workers = min(try int(argument), 64)
            case "--batch": batch = min(try int(argument), 1_000)
            case "--rows": rows = min(try int(argument), 5_000_000)
            case "--due": due = try int(argument)
            case "--samples": samples = min(try int(argument), 100_000)
            case "--no-pgbench": pgbench = false
            case "--no-million": million = false
            case "--concurrent-batches": concurrentBatches = min(try int(argument), 64)
            case "--claims-wait-for-flush": claimsWaitForFlush = true
            default: throw BenchError("unknown argument \(argument)")
            }
        }
        guard due <= rows else { throw BenchError("--due must not exceed --rows") }
    }
}

/// Prints a line at once (standard output may be a pipe or a file), with the machine's load
/// (numbers from a loaded machine are only comparable within one run).
func say(_ line: String) {
    let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3)
        .joined(separator: " ")
    print(line + (load.map { "  [load \($0)]" } ?? ""))
    fflush(nil)
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Latencies in seconds, summarised.
struct Latencies {
    var samples: [Double] = []

    func percentile(_ p: Double) -> Double {
        guard !samples.isEmpty else { return .nan }
        let sorted = samples.sorted()
        let index = min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1)
        return sorted[max(index, 0)]
    }

    var summary: String {
        String(
            format: "p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d samples)", percentile(50) * 1000,
            percentile(99) * 1000, percentile(100) * 1000, samples.count)
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func entry(_ id: String, due: Date, now: Date) -> QueueEntry {
    // A typical verification message: a few hundred bytes.
    let body = "From: noreply@example.org\r\nTo: user@example.com\r\nSubject: Your code\r\n"
        + "Message-ID: <\(id)@bench.test>\r\n\r\nYour code is 123456.\r\n" + String(repeating: "x", count: 200) + "\r\n"
    return QueueEntry(
        id: id, from: "noreply@example.org", to: "user-\(id)@example.com", data: Array(body.utf8),
        messageID: "<\(id)@bench.test>", createdAt: now, nextAttemptAt: due, lastReason: "temporary-failure")
}

/// Phase 1: `callers` concurrent enqueuers for `duration`; returns the entries stored.
func benchEnqueue(_ store: PostgresQueueStore, callers: Int, duration: Duration) async throws -> Int {
    let now = Date()
    let deadline = ContinuousClock.now + duration
    let started = ContinuousClock.now
    let results = try await withThrowingTaskGroup(of: (Int, [Double]).self) { group in
        for caller in 0..<callers {
            group.addTask {
                var count = 0
                var latencies: [Double] = []
                // At most 200,000 per caller, whatever the machine.
                while ContinuousClock.now < deadline && count < 200_000 {
                    let before = ContinuousClock.now
                    try await store.enqueue(entry("e\(caller)-\(count)", due: now, now: now))
                    latencies.append(seconds(ContinuousClock.now - before))
                    count += 1
                }
                return (count, latencies)
            }
        }
        var total = 0
        var latencies = Latencies()
        for try await (count, samples) in group {
            total += count
            latencies.samples += samples
        }
        return (total, latencies)
    }
    let elapsed = seconds(ContinuousClock.now - started)
    say(
        String(format: "enqueue:          %8.0f entries/s  (%d callers, %d entries in %.1f s; %@)",
            Double(results.0) / elapsed, callers, results.0, elapsed, results.1.summary))
    return results.0
}

/// Phase 2: `workers` claim-and-complete loops until the table is empty (or 60 s).
func benchClaimComplete(_ store: PostgresQueueStore, workers: Int, batch: Int, expected: Int) async throws {
    let started = ContinuousClock.now
    let deadline = started + .seconds(60)
    let total = try await withThrowingTaskGroup(of: Int.self) { group in
        for _ in 0..<workers {
            group.addTask {
                var done = 0
                while ContinuousClock.now < deadline {
                    let claims = try await store.claimDue(now: Date(), limit: batch, leaseFor: .seconds(60))
                    if claims.isEmpty { break }
                    try await withThrowingTaskGroup(of: Void.self) { settling in
                        for claim in claims { settling.addTask { try await store.complete(claim.lease) } }
                        try await settling.waitForAll()
                    }
                    done += claims.count
                }
                return done
            }
        }
        return try await group.reduce(0, +)
    }
    let elapsed = seconds(ContinuousClock.now - started)
    say(
        String(format: "claim + complete: %8.0f entries/s  (%d workers, claims of %d, %d of %d entries in %.1f s)",
            Double(total) / elapsed, workers, batch, total, expected, elapsed))
}

/// Phase 3: pgbench's simple-update on the same server; returns its TPS line.
func benchPgbench(url: String, clients: Int, duration: Double) async throws -> String {
    let bin = ProcessInfo.processInfo.environment["DIRECTSMTP_POSTGRES_BIN"].map { $0 + "/pgbench" } ?? "/usr/bin/pgbench"
    guard FileManager.default.isExecutableFile(atPath: bin) else { return "pgbench not found at \(bin)" }
    _ = try await run(bin, ["-i", "-q", "-s", "1", url])
    let output = try await run(
        bin, ["-n", "-b", "simple-update", "-c", "\(clients)", "-j", "2", "-T", "\(Int(duration.rounded(.up)))", url])
    _ = try await run(bin, ["-i", "-I", "d", url])
    return output.split(separator: "\n").first { $0.hasPrefix("tps") }.map(String.init) ?? "no tps line in:\n\(output)"
}

/// Phase 4: claim latency among `rows` rows of which `due` are due.
func benchClaimLatency(_ store: PostgresQueueStore, client: PostgresClient, rows: Int, due: Int, samples: Int) async throws {
    let table = "\"\(store.table)\""
    let filled = ContinuousClock.now
    // Server-side fill: rows - due entries due tomorrow, due entries due an hour ago.
    _ = try await client.query(
        PostgresQuery(
            unsafeSQL: """
                INSERT INTO \(table) (id, mail_from, rcpt_to, message_id, data, created_at, next_attempt_at, attempts, last_reason)
                SELECT 'm' || i, 'noreply@example.org', 'user' || i || '@example.com', '<' || i || '@bench.test>',
                       convert_to(repeat('x', 300), 'UTF8'), now(),
                       now() + CASE WHEN i <= \(due) THEN interval '-1 hour' ELSE interval '1 day' END, 1, 'temporary-failure'
                FROM generate_series(1, \(rows)) AS i
                """)
    ).collect()
    _ = try await client.query(PostgresQuery(unsafeSQL: "VACUUM ANALYZE \(table)")).collect()
    say(String(format: "  (filled %d rows, %d due, in %.1f s)", rows, due, seconds(ContinuousClock.now - filled)))
    var latencies = Latencies()
    let dueAgain = Date().addingTimeInterval(-3600)
    for _ in 0..<samples {
        let before = ContinuousClock.now
        let claims = try await store.claimDue(now: Date(), limit: 1, leaseFor: .seconds(60))
        latencies.samples.append(seconds(ContinuousClock.now - before))
        guard let claim = claims.first else { throw BenchError("no due entry to claim") }
        // Put it back, due: the table keeps `due` due entries.
        try await store.reschedule(claim.lease, attempts: claim.entry.attempts, nextAttemptAt: dueAgain, lastReason: "bench")
    }
    say("claim latency:    \(latencies.summary), \(rows) rows, \(due) due")
    // The floor on this machine right now: the same pool's round trip with no work at all.
    var roundTrips = Latencies()
    for _ in 0..<samples {
        let before = ContinuousClock.now
        _ = try await client.query("SELECT 1").collect()
        roundTrips.samples.append(seconds(ContinuousClock.now - before))
    }
    say("SELECT 1 latency: \(roundTrips.summary) (the round-trip floor, same pool)")
}

/// Runs a program to its end; returns its standard output. posix_spawn, then
/// `waitpid(WNOHANG)` between short sleeps: no thread waits, and Foundation's Process (whose
/// exit notification did not arrive in these processes) is not needed.
func run(_ path: String, _ arguments: [String]) async throws -> String {
    let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("pgbench-\(UUID().uuidString).out").path
    defer { try? FileManager.default.removeItem(atPath: outputPath) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    // The child starts with no signal blocked and default handlers: this process's threads
    // block some (pgbench -T, for one, ends on SIGALRM and would never stop).
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
    guard spawned == 0 else { throw BenchError("cannot start \(path): error \(spawned)") }
    var status: Int32 = 0
    while waitpid(pid, &status, WNOHANG) != pid {
        try await Task.sleep(for: .milliseconds(50))
    }
    guard status == 0 else { throw BenchError("\(path) failed (wait status \(status))") }
    return (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
}

func main() async throws {
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    guard let urlText = ProcessInfo.processInfo.environment["DIRECTSMTP_POSTGRES_URL"] else {
        throw BenchError("set DIRECTSMTP_POSTGRES_URL, e.g. run under scripts/with-postgres.sh")
    }
    let url = try PostgresConnectionURL(urlText)
    guard url.host == "127.0.0.1" || url.host == "::1" || url.host == "localhost" else {
        throw BenchError("the benchmark runs against a loopback server only, not \(url.host)")
    }
    var configuration = try url.clientConfiguration()
    configuration.options.maximumConnections = max(options.callers, options.workers) + 4
    var logger = Logger(label: "directsmtp-postgres-bench")
    logger.logLevel = .critical
    let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        let table = "bench_\(UInt32.random(in: 0...UInt32.max))"
        let store = try PostgresQueueStore(client: client, configuration: .init(
                table: table, logger: logger, claimsWaitForFlush: options.claimsWaitForFlush,
                maxConcurrentBatches: options.concurrentBatches))
        try await store.migrate()
        say("directsmtp-postgres-bench on \(url) (a shared, loaded machine: compare within one run)")
        let stored = try await benchEnqueue(store, callers: options.callers, duration: .seconds(options.seconds))
        try await benchClaimComplete(store, workers: options.workers, batch: options.batch, expected: stored)
        if options.pgbench {
            let tps = try await benchPgbench(url: urlText, clients: options.callers, duration: options.seconds)
            say("pgbench simple-update (\(options.callers) clients): \(tps)")
        }
        if options.million {
            try await benchClaimLatency(
                store, client: client, rows: options.rows, due: options.due, samples: options.samples)
        }
        _ = try await client.query(PostgresQuery(unsafeSQL: "DROP TABLE \"\(table)\" CASCADE")).collect()
        _ = try await client.query("DELETE FROM directsmtp_schema_versions WHERE table_name = \(table)").collect()
    }
}

do {
    try await main()
} catch {
    FileHandle.standardError.write(Data("directsmtp-postgres-bench: \(error)\n".utf8))
    exit(1)
}
