import DNSClient
import DirectSMTP
import Foundation

/// `directsmtp queue list|run|purge --queue PATH [--all] [--max-age SECONDS]
/// [--dns HOST:PORT]... [--port N] [--json]`: looks after the delivery queue's journal.
///
/// - `list` shows each entry: id, recipient, sender, age, attempts (every try counted, the
///   original send included), time to the next try, last reason. `--json` prints
///   `{"entries":[{"id","to","from","ageSeconds","attempts","nextAttemptSeconds","lastReason"}]}`.
/// - `run` retries the due entries once (`--all`: every entry, due or not) and prints each
///   outcome; `--dns` and `--port` as for `send`.
/// - `purge` removes the entries older than the maximum age (24 h, or `--max-age`) and
///   prints each with the `expired` outcome.
///
/// The journal is shared through leases and short exclusive sections: the command works
/// alongside applications, `send --queue` and other `queue` commands using it (a `run`
/// retries only the entries it claimed). A journal that does not exist in an existing
/// folder is an empty queue (it is not created). Exit codes: 0 when the work is done
/// (whatever the entries' outcomes), 65 a file that is not a journal, 66 a folder that
/// does not exist, 74 a journal that cannot be read or written, 75 another process kept
/// the journal locked (stuck), 70 our own fault.
enum QueueCommand {
    /// What `run` needs to re-send an entry: the flags shared with `send`.
    struct RedeliveryOptions: Sendable {
        /// `--dns HOST:PORT` values, in order (empty: the system's resolv.conf).
        var nameservers: [String]
        /// `--port N`: the SMTP port instead of 25.
        var port: Int?
    }

    static func run(_ raw: [String]) async -> Int32 {
        let arguments: Arguments
        do {
            arguments = try Arguments(
                raw, valueFlags: ["--queue", "--max-age", "--dns", "--port"],
                switches: ["--all", "--json"])
        } catch {
            return usage(error.description)
        }
        guard arguments.positionals.count == 1, let action = arguments.positionals.first else {
            return usage("give exactly one of list, run, purge")
        }
        guard let path = arguments.value("--queue"), !path.isEmpty else {
            return usage("--queue PATH is required")
        }
        let maxAge: Duration?
        let port: Int?
        do {
            maxAge = try arguments.seconds("--max-age")
            port = try arguments.port("--port")
        } catch {
            return usage(error.description)
        }
        // Parsed as `send` and `probe` parse them (a bare address means port 53): the
        // re-sends run with these servers.
        let servers = arguments.values("--dns")
        if !servers.isEmpty, (try? ResolverConfiguration.nameservers(parsing: servers)) == nil {
            return usage(
                "--dns takes a numeric HOST[:PORT] (IPv6 as [ADDRESS]:PORT), not '\(servers.joined(separator: " "))'"
            )
        }
        let json = arguments.has("--json")
        switch action {
        case "list":
            guard !arguments.has("--all"), maxAge == nil else {
                return usage("list takes only --queue and --json")
            }
            return await list(path: path, json: json)
        case "purge":
            guard !arguments.has("--all") else { return usage("--all belongs to run") }
            return await purge(path: path, maxAge: maxAge, json: json)
        case "run":
            let options = RedeliveryOptions(nameservers: arguments.values("--dns"), port: port)
            return await retry(
                path: path, options: options, all: arguments.has("--all"), maxAge: maxAge,
                json: json)
        default:
            return usage("unknown queue action '\(action)'; use list, run or purge")
        }
    }

    // MARK: Re-sending

    /// The re-send `queue run` uses for each entry: re-resolve the recipient domain's MX
    /// hosts through `options.nameservers`, race them on `options.port`, and send the
    /// entry's message again, mapping the result to a ``RetryOutcome``.
    ///
    /// It is the ``VerificationCoordinator``'s `redeliver` (EHLO with the machine's host
    /// name); `nil`, after printing why, when the options cannot make a coordinator.
    static func makeRedeliver(_ options: RedeliveryOptions) -> (
        @Sendable (QueueEntry) async -> RetryOutcome
    )? {
        do {
            let coordinator = try CoordinatorOptions.redeliveryCoordinator(
                nameservers: options.nameservers, port: options.port)
            return { entry in await coordinator.redeliver(entry) }
        } catch {
            printError("directsmtp queue run: \(error.description)")
            return nil
        }
    }

    // MARK: Actions

    private static func list(path: String, json: Bool) async -> Int32 {
        let entries: [QueueEntry]
        switch await withStore(path: path, { store in try await store.list() }) {
        case .success(let loaded):
            entries = (loaded ?? []).sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        case .failure(let failure): return failure.status
        }
        let now = Date()
        if json {
            let rows = entries.map { ListRow(entry: $0, now: now) }
            printJSON(ListOutput(entries: rows))
        } else if entries.isEmpty {
            print("queue \(SendQueue.displayName(path)): empty")
        } else {
            print("queue \(SendQueue.displayName(path)): \(entries.count) entr\(entries.count == 1 ? "y" : "ies")")
            for entry in entries {
                let next = entry.nextAttemptAt.timeIntervalSince(now)
                print(
                    "\(entry.id)  to \(entry.to)  from \(entry.from)  age \(human(now.timeIntervalSince(entry.createdAt)))"
                        + "  attempts \(entry.attempts)  next \(next <= 0 ? "due now" : "in " + human(next))"
                        + "  last \(entry.lastReason ?? "-")")
            }
        }
        return ExitCode.accepted
    }

    private static func purge(path: String, maxAge: Duration?, json: Bool) async -> Int32 {
        let result = await withStore(path: path) { store in
            try await DeliveryQueue(store: store).purgeExpired(maxAge: maxAge).events
        }
        switch result {
        case .success(let events):
            let now = Date()
            let events = events ?? []
            for event in events { printOutcome(event, now: now, json: json) }
            if !json {
                let count = events.count { if case .expired = $0 { true } else { false } }
                print("purged \(count) expired entr\(count == 1 ? "y" : "ies")")
            }
            return events.contains { if case .storeFailed = $0 { true } else { false } }
                ? ExitCode.software : ExitCode.accepted
        case .failure(let failure):
            return failure.status
        }
    }

    private static func retry(
        path: String, options: RedeliveryOptions, all: Bool, maxAge: Duration?, json: Bool
    ) async -> Int32 {
        guard let redeliver = makeRedeliver(options) else {
            printError(
                "directsmtp queue run: cannot re-send (see above); nothing was sent. "
                    + "'queue list' and 'queue purge' work.")
            return ExitCode.software
        }
        var schedule = RetrySchedule.default
        if let maxAge { schedule.maxAge = maxAge }
        let result = await withStore(path: path) { store in
            let queue = DeliveryQueue(store: store, schedule: schedule)
            return try await
                (all
                ? queue.runAll(deliveringWith: redeliver) : queue.runDue(deliveringWith: redeliver))
                .events
        }
        switch result {
        case .success(let events):
            let now = Date()
            let events = events ?? []
            for event in events { printOutcome(event, now: now, json: json) }
            if !json && events.isEmpty { print("nothing was due") }
            return events.contains { if case .storeFailed = $0 { true } else { false } }
                ? ExitCode.software : ExitCode.accepted
        case .failure(let failure):
            return failure.status
        }
    }

    // MARK: Helpers

    /// Opens the queue (unless it is a journal that does not exist in an existing folder:
    /// then `nil`), runs `body`, closes it. Failures print why and carry the exit code.
    private static func withStore<T: Sendable>(
        path: String, _ body: (any QueueStore) async throws -> T
    ) async -> Result<T?, Int32Status> {
        let opened: OpenedQueueStore
        switch await open(path) {
        case .success(let store?): opened = store
        case .success(nil): return .success(nil)
        case .failure(let failure): return .failure(failure)
        }
        do {
            let value = try await body(opened.store)
            await opened.close()
            return .success(value)
        } catch {
            await opened.close()
            printError("directsmtp queue: \(error)")
            return .failure(Int32Status(QueueStoreOpener.exitCode(for: error)))
        }
    }

    /// The ``QueueStoreOpener``'s store for `path`, else the journal there; `nil` for a
    /// journal that does not exist in an existing folder (an empty queue, not created).
    private static func open(_ path: String) async -> Result<OpenedQueueStore?, Int32Status> {
        do {
            if let opened = try await QueueStoreOpener.current.open(path) { return .success(opened) }
        } catch {
            printError("directsmtp queue: \(error)")
            return .failure(Int32Status(QueueStoreOpener.exitCode(for: error)))
        }
        guard QueueFileStatus.folderExists(of: path) else {
            printError("directsmtp queue: the folder of \(path) does not exist")
            return .failure(Int32Status(ExitCode.noInput))
        }
        // lstat, not exists: a dangling symlink is not a missing journal.
        var info = stat()
        if lstat(path, &info) != 0 && errno == ENOENT { return .success(nil) }
        let store: FileJournalQueueStore
        do {
            store = try await FileJournalQueueStore.open(path: path)
        } catch {
            printError("directsmtp queue: \(error)")
            return .failure(Int32Status(QueueFileStatus.exitCode(for: error)))
        }
        if !store.recovery.isClean {
            printError("directsmtp queue: journal recovery: \(store.recovery)")
        }
        return .success(OpenedQueueStore(store: store, close: { await store.close() }))
    }

    /// An exit status carried as an error.
    private struct Int32Status: Error {
        let status: Int32
        init(_ status: Int32) { self.status = status }
    }

    private static func printOutcome(_ event: QueueEvent, now: Date, json: Bool) {
        let row: OutcomeRow
        switch event {
        case .delivered(let entry): row = OutcomeRow(entry, "delivered", nil, now: now)
        case .rejected(let entry, let reason): row = OutcomeRow(entry, "rejected", reason, now: now)
        case .retryScheduled(let entry, _, let reason):
            row = OutcomeRow(entry, "deferred", reason, now: now)
        case .expired(let entry): row = OutcomeRow(entry, "expired", "expired", now: now)
        case .storeFailed(let id, let message):
            printError("directsmtp queue: could not record the new state of \(id): \(message)")
            return
        case .enqueued: return
        }
        if json {
            printJSON(row)
        } else {
            var line = "\(row.id)  to \(row.to)  \(row.outcome)"
            if let reason = row.reason, row.outcome != "expired" { line += " (\(reason))" }
            line += "  attempts \(row.attempts)  age \(human(Double(row.ageSeconds)))"
            if let next = row.nextAttemptSeconds { line += "  next in \(human(Double(next)))" }
            print(line)
        }
    }

    private static func printJSON(_ value: some Encodable) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return }
        print(String(decoding: data, as: UTF8.self))
    }

    private static func usage(_ message: String) -> Int32 {
        printError("directsmtp queue: \(message)")
        printError(
            "usage: directsmtp queue list|run|purge --queue PATH [--all] [--max-age SECONDS] [--dns HOST:PORT]... [--port N] [--json]"
        )
        return ExitCode.usage
    }

    /// Seconds as a whole number for display: negatives as 0, and capped (1e15 s, some 30
    /// million years) so a date far off in a journal never traps the conversion.
    static func wholeSeconds(_ seconds: Double) -> Int {
        Int(min(max(seconds, 0), 1e15))
    }

    /// 42 s, 5 min, 3.5 h, 2.0 d.
    static func human(_ seconds: Double) -> String {
        let value = Double(wholeSeconds(seconds))
        if value < 60 { return "\(Int(value)) s" }
        if value < 3600 { return "\(Int(value / 60)) min" }
        if value < 86_400 { return String(format: "%.1f h", value / 3600) }
        return String(format: "%.1f d", value / 86_400)
    }

    // MARK: JSON shapes

    private struct ListOutput: Encodable {
        var entries: [ListRow]
    }

    private struct ListRow: Encodable {
        var id, to, from: String
        var ageSeconds: Int
        var attempts: Int
        var nextAttemptSeconds: Int
        var lastReason: String?

        init(entry: QueueEntry, now: Date) {
            id = entry.id
            to = entry.to
            from = entry.from
            ageSeconds = wholeSeconds(now.timeIntervalSince(entry.createdAt))
            attempts = entry.attempts
            nextAttemptSeconds = wholeSeconds(
                entry.nextAttemptAt.timeIntervalSince(now).rounded(.up))
            lastReason = entry.lastReason
        }

        enum CodingKeys: String, CodingKey {
            case id, to, from, ageSeconds, attempts, nextAttemptSeconds, lastReason
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(to, forKey: .to)
            try container.encode(from, forKey: .from)
            try container.encode(ageSeconds, forKey: .ageSeconds)
            try container.encode(attempts, forKey: .attempts)
            try container.encode(nextAttemptSeconds, forKey: .nextAttemptSeconds)
            try container.encode(lastReason, forKey: .lastReason)  // null when none
        }
    }

    private struct OutcomeRow: Encodable {
        var id, to, from: String
        var outcome: String
        var reason: String?
        var attempts: Int
        var ageSeconds: Int
        var nextAttemptSeconds: Int?

        init(_ entry: QueueEntry, _ outcome: String, _ reason: String?, now: Date) {
            id = entry.id
            to = entry.to
            from = entry.from
            self.outcome = outcome
            self.reason = reason
            attempts = entry.attempts
            ageSeconds = wholeSeconds(now.timeIntervalSince(entry.createdAt))
            nextAttemptSeconds =
                outcome == "deferred"
                ? wholeSeconds(entry.nextAttemptAt.timeIntervalSince(now).rounded(.up)) : nil
        }
    }
}
