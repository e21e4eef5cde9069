import DirectSMTP
import DirectSMTPTesting
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `directsmtp-bench queue ...`: the delivery queue's figures, and the child process of the
/// crash-safety test.
///
/// - `queue enqueue [--count N] [--concurrency C] [--size BYTES] [--journal PATH] [--json]`:
///   durable `DeliveryQueue.enqueue` calls per second into a fresh journal (each returns
///   only after the fdatasync that covers it; concurrent ones share syncs).
/// - `queue drain [--count N] [--concurrency C] [--size BYTES] [--journal PATH] [--json]`:
///   N due entries in a fresh journal, then one `DeliveryQueue.runDue` whose re-sends all
///   succeed at once: claims (lease records) and completions (removals) per second.
/// - `queue recover [--entries N] [--size BYTES] [--rounds R] [--journal PATH] [--json]`:
///   builds a journal of N entries, then times opening it R times (recovery: read, check
///   every CRC, replay), reporting the best and the median.
/// - `queue crash-child --journal PATH [--seed S] [--concurrency C]` (hidden, for the tests):
///   stores entries (leased by itself) and now and then completes one, until killed,
///   printing `A id` after each acknowledged store, `r id` before a completion and `R id`
///   once it is acknowledged, one `write(2)` per line.
enum QueueBenchmark {
    static func run(_ arguments: [String]) async -> Int32 {
        guard let command = arguments.first else {
            printLine("usage: directsmtp-bench queue enqueue|recover ...", to: 2)
            return 64
        }
        let options: [String: String]
        do {
            options = try parse(Array(arguments.dropFirst()))
        } catch {
            printLine("directsmtp-bench queue: \(error)", to: 2)
            return 64
        }
        switch command {
        case "enqueue": return await enqueue(options)
        case "drain": return await drain(options)
        case "recover": return await recover(options)
        case "crash-child": return await crashChild(options)
        default:
            printLine("directsmtp-bench queue: unknown benchmark \(command)", to: 2)
            return 64
        }
    }

    // MARK: enqueue

    private static func enqueue(_ options: [String: String]) async -> Int32 {
        let count = Int(options["--count"] ?? "") ?? 10_000
        let concurrency = max(Int(options["--concurrency"] ?? "") ?? 64, 1)
        let size = Int(options["--size"] ?? "") ?? 1024
        let path = options["--journal"] ?? "/tmp/directsmtp-bench-queue-\(getpid()).journal"
        removeJournal(path)
        defer { removeJournal(path) }
        do {
            let store = try await FileJournalQueueStore.open(path: path)
            // Through the public path the coordinator uses: DeliveryQueue.enqueue, durable on
            // return. The runner is not started; nothing is delivered.
            let queue = DeliveryQueue(store: store)
            let clock = ContinuousClock()
            let start = clock.now
            try await addConcurrently(
                count: count, concurrency: concurrency, size: size, prefix: "bench"
            ) {
                try await queue.enqueue($0)
            }
            let elapsed = start.duration(to: clock.now)
            let stats = store.statistics
            await store.close()
            let seconds =
                Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let rate = Double(count) / seconds
            if options["--json"] != nil {
                print(
                    #"{"benchmark":"queue-enqueue","count":\#(count),"concurrency":\#(concurrency),"size":\#(size),"seconds":\#(round3(seconds)),"enqueuesPerSecond":\#(Int(rate)),"journalBytes":\#(stats.bytes)}"#
                )
            } else {
                print(
                    "queue enqueue: \(count) durable enqueues (\(size)-byte messages, concurrency \(concurrency)) in \(round3(seconds)) s = \(Int(rate))/s; journal \(stats.bytes) bytes"
                )
            }
            return 0
        } catch {
            printLine("queue enqueue failed: \(error)", to: 2)
            return 70
        }
    }

    // MARK: drain

    private static func drain(_ options: [String: String]) async -> Int32 {
        let count = Int(options["--count"] ?? "") ?? 10_000
        let concurrency = max(Int(options["--concurrency"] ?? "") ?? 16, 1)
        let size = Int(options["--size"] ?? "") ?? 1024
        let path = options["--journal"] ?? "/tmp/directsmtp-bench-drain-\(getpid()).journal"
        removeJournal(path)
        defer { removeJournal(path) }
        do {
            let store = try await FileJournalQueueStore.open(path: path)
            try await addConcurrently(
                count: count, concurrency: 512, size: size, prefix: "drain", due: true
            ) {
                try await store.enqueue($0)
            }
            // Every recipient has a domain of its own: only the total limit applies.
            let queue = DeliveryQueue(
                store: store,
                limits: .init(
                    maxConcurrentDeliveries: concurrency, maxConcurrentPerDomain: concurrency))
            let clock = ContinuousClock()
            let start = clock.now
            let summary = try await queue.runDue { _ in .delivered }
            let elapsed = seconds(start.duration(to: clock.now))
            let left = try await store.list().count
            await store.close()
            guard summary.delivered == count, left == 0 else {
                printLine(
                    "queue drain: delivered \(summary.delivered) of \(count), \(left) left", to: 2)
                return 70
            }
            let rate = Double(count) / elapsed
            if options["--json"] != nil {
                print(
                    #"{"benchmark":"queue-drain","count":\#(count),"concurrency":\#(concurrency),"size":\#(size),"seconds":\#(round3(elapsed)),"claimCompletesPerSecond":\#(Int(rate))}"#
                )
            } else {
                print(
                    "queue drain: \(count) entries claimed, delivered and completed (concurrency \(concurrency)) in \(round3(elapsed)) s = \(Int(rate))/s"
                )
            }
            return 0
        } catch {
            printLine("queue drain failed: \(error)", to: 2)
            return 70
        }
    }

    // MARK: recover

    private static func recover(_ options: [String: String]) async -> Int32 {
        let count = Int(options["--entries"] ?? "") ?? 100_000
        let size = Int(options["--size"] ?? "") ?? 1024
        let path = options["--journal"] ?? "/tmp/directsmtp-bench-recover-\(getpid()).journal"
        removeJournal(path)
        defer { removeJournal(path) }
        do {
            let builder = try await FileJournalQueueStore.open(path: path)
            try await addConcurrently(count: count, concurrency: 512, size: size, prefix: "recover")
            {
                try await builder.enqueue($0)
            }
            let bytes = builder.statistics.bytes
            await builder.close()

            // Open it several times; report the best and the median (the machine is shared).
            let rounds = max(Int(options["--rounds"] ?? "") ?? 5, 1)
            let clock = ContinuousClock()
            var openTimes: [Double] = []
            var loadSeconds = 0.0
            for _ in 0..<rounds {
                let start = clock.now
                let store = try await FileJournalQueueStore.open(path: path)
                let opened = clock.now
                let entries = try await store.list()
                let loaded = clock.now
                let report = store.recovery
                await store.close()
                guard entries.count == count, report.isClean else {
                    printLine(
                        "queue recover: expected \(count) entries in a clean journal, got \(entries.count) (\(report))",
                        to: 2)
                    return 70
                }
                openTimes.append(seconds(start.duration(to: opened)))
                loadSeconds = seconds(opened.duration(to: loaded))
            }
            openTimes.sort()
            let best = openTimes[0]
            let median = openTimes[openTimes.count / 2]
            if options["--json"] != nil {
                print(
                    #"{"benchmark":"queue-recover","entries":\#(count),"size":\#(size),"journalBytes":\#(bytes),"rounds":\#(rounds),"recoverSecondsBest":\#(round3(best)),"recoverSecondsMedian":\#(round3(median)),"loadSeconds":\#(round3(loadSeconds))}"#
                )
            } else {
                print(
                    "queue recover: \(count) entries, \(bytes / 1_048_576) MiB journal, recovered in \(round3(best)) s best, \(round3(median)) s median of \(rounds) (load() \(round3(loadSeconds)) s; warm page cache)"
                )
            }
            return 0
        } catch {
            printLine("queue recover failed: \(error)", to: 2)
            return 70
        }
    }

    // MARK: crash-child

    /// Never returns normally before its bound (60 s or 200,000 adds): the test kills it.
    private static func crashChild(_ options: [String: String]) async -> Int32 {
        guard let path = options["--journal"] else {
            printLine("crash-child needs --journal PATH", to: 2)
            return 64
        }
        let seed = options["--seed"] ?? "0"
        let concurrency = max(Int(options["--concurrency"] ?? "") ?? 8, 1)
        let store: FileJournalQueueStore
        do {
            store = try await FileJournalQueueStore.open(
                path: path, options: .init(compactionMinimumDeadRecords: 64, compactionDeadRatio: 1)
            )
        } catch {
            printLine("crash-child: \(error)", to: 2)
            return 75
        }
        let deadline = ContinuousClock.now + .seconds(60)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var acknowledged: [QueueLease] = []
                    for number in 0..<(200_000 / concurrency) {
                        if ContinuousClock.now > deadline { return }
                        let id = "\(seed)-\(worker)-\(number)"
                        do {
                            // Leased by this child: it alone may complete it (a lease
                            // record per entry, as a held send writes).
                            let lease = try await store.enqueueLeased(
                                QueueCrashFixture.entry(id: id), leaseFor: .seconds(3600),
                                now: Date())
                            printLine("A \(id)", to: 1)
                            acknowledged.append(lease)
                            // Keep the journal small (removes, hence compactions) so the
                            // child's own recovery stays quick however many rounds ran.
                            if acknowledged.count > 2, let victim = acknowledged.first {
                                acknowledged.removeFirst()
                                printLine("r \(victim.entryID)", to: 1)
                                try await store.complete(victim)
                                printLine("R \(victim.entryID)", to: 1)
                            }
                        } catch {
                            printLine("crash-child: \(error)", to: 2)
                            return
                        }
                    }
                }
            }
        }
        return 0
    }

    // MARK: Helpers

    private static func addConcurrently(
        count: Int, concurrency: Int, size: Int, prefix: String, due: Bool = false,
        add: @escaping @Sendable (QueueEntry) async throws -> Void
    ) async throws {
        let body = [UInt8](repeating: UInt8(ascii: "a"), count: size)
        let now = Date()
        let workers = min(concurrency, max(count, 1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    // Worker w takes w, w + workers, w + 2 * workers...
                    for index in stride(from: worker, to: count, by: workers) {
                        try await add(
                            QueueEntry(
                                id: "\(prefix)-\(index)", from: "noreply@example.org",
                                to: "user\(index)@example.com", data: body,
                                messageID: "<\(prefix)-\(index)@bench.test>", createdAt: now,
                                nextAttemptAt: now.addingTimeInterval(due ? -1 : 300), attempts: 1,
                                lastReason: "temporary-failure"))
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    private static func parse(_ arguments: [String]) throws -> [String: String] {
        struct UsageError: Error, CustomStringConvertible { let description: String }
        var options: [String: String] = [:]
        var index = 0
        while index < arguments.count {
            let flag = arguments[index]
            if flag == "--json" {
                options[flag] = ""
                index += 1
                continue
            }
            guard
                [
                    "--count", "--concurrency", "--size", "--journal", "--entries", "--seed",
                    "--rounds",
                ].contains(flag)
            else {
                throw UsageError(description: "unknown option \(flag)")
            }
            guard index + 1 < arguments.count else {
                throw UsageError(description: "\(flag) needs a value")
            }
            options[flag] = arguments[index + 1]
            index += 2
        }
        return options
    }

    private static func removeJournal(_ path: String) {
        unlink(path)
        unlink(path + ".compact")
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private static func round3(_ value: Double) -> Double {
        (value * 1000).rounded() / 1000
    }

    /// One `write(2)` per line, so a line is either whole or absent when the process dies.
    private static func printLine(_ text: String, to fd: Int32) {
        let line = Array((text + "\n").utf8)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}
