import Dispatch
import DirectSMTP
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `directsmtp probe --input FILE [--concurrency N]`: probes one address per line of FILE
/// (`-` for standard input), `N` at a time (default 10), within the coordinator's
/// per-domain limit; `send --input` sends the same message to each address the same way
/// (``attempt`` is the one difference). Prints one JSON object per line **as the calls
/// finish**, each with
/// the input's line number first (`{"line":3,"outcome":...}`); a line that is not an
/// address gets `{"line":3,"input":"...","error":"..."}` and the run goes on. Blank lines
/// and lines starting with `#` are skipped. On a terminal, standard error shows a progress
/// line (done/total, rate, ETA, counts per outcome); a summary ends every run. Exit 0 once
/// every line is done, whatever the outcomes; 64 for usage errors, 66 for an input that
/// cannot be read, 130 on Ctrl-C (after printing what is done).
struct BulkProbe {
    /// What a probe of one line ended in.
    private enum Result: Sendable {
        case outcome(line: Int, VerificationOutcome)
        case malformed(line: Int, input: String, error: String)
        case interrupted
    }

    /// Counts for the progress line and the summary.
    private struct Tally {
        var done = 0
        var accepted = 0
        var rejected = 0
        var deferred = 0
        var invalid = 0

        mutating func count(_ result: Result) {
            switch result {
            case .outcome(_, let outcome):
                done += 1
                switch outcome.status {
                case .accepted: accepted += 1
                case .rejected: rejected += 1
                case .deferred: deferred += 1
                }
            case .malformed:
                done += 1
                invalid += 1
            case .interrupted:
                break
            }
        }

        var counts: String {
            "accepted \(accepted), rejected \(rejected), deferred \(deferred), invalid \(invalid)"
        }
    }

    static let noInput: Int32 = 66
    static let interrupted: Int32 = 130

    /// The subcommand, for messages (`probe`, `send`).
    let command: String
    /// The coordinator the attempts run on: its attempts are let end before the process.
    let coordinator: VerificationCoordinator
    /// One address's call: a probe, or a send (and its final outcome).
    let attempt: @Sendable (EmailAddress) async -> VerificationOutcome
    let concurrency: Int

    /// `--concurrency N` (1...10000), default 10.
    static func concurrency(_ arguments: Arguments) throws(Arguments.UsageError) -> Int {
        try arguments.value("--concurrency").map { text throws(Arguments.UsageError) in
            guard let value = Int(text), (1...10_000).contains(value) else {
                throw Arguments.UsageError(
                    description: "--concurrency takes a whole number from 1 to 10000")
            }
            return value
        } ?? 10
    }

    /// Reads `path` and probes its lines; returns the exit code.
    func run(input path: String) async -> Int32 {
        let text: String
        do {
            text = try await Self.readAll(path)
        } catch {
            printError("directsmtp \(command): cannot read \(path == "-" ? "standard input" : path): \(error)")
            return Self.noInput
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated().compactMap { index, raw -> (Int, String)? in
                let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
                return line.isEmpty || line.hasPrefix("#") ? nil : (index + 1, line)
            }
        // Ctrl-C cancels the probes; what finished is printed, then the summary.
        signal(SIGINT, SIG_IGN)
        let work = Task { await probeAll(lines) }
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { work.cancel() }
        source.resume()
        let finished = await work.value
        source.cancel()
        // Attempts outlive their callers (RSET and QUIT after the verdict): let them end
        // (bounded by their step timeouts) before the process does, as run() does when
        // cancelled, so no session is cut off.
        let background = Task { await coordinator.run() }
        background.cancel()
        await background.value
        return finished ? 0 : Self.interrupted
    }

    /// Probes every line, `concurrency` at a time; `false` when interrupted.
    private func probeAll(_ lines: [(Int, String)]) async -> Bool {
        let started = ContinuousClock.now
        let showsProgress = isatty(2) == 1
        var tally = Tally()
        var lastProgress = started
        await withTaskGroup(of: Result.self) { group in
            var next = 0
            func startNext() {
                guard next < lines.count, !Task.isCancelled else { return }
                let (number, text) = lines[next]
                next += 1
                group.addTask { await probe(line: number, text: text) }
            }
            for _ in 0..<min(concurrency, lines.count) { startNext() }
            while let result = await group.next() {
                // A probe cut short by Ctrl-C is no verdict: it is not printed.
                if Task.isCancelled, case .outcome(_, let outcome) = result,
                    outcome.status == .deferred
                {
                    continue
                }
                Self.print(result)
                tally.count(result)
                startNext()
                if showsProgress, lastProgress.duration(to: .now) >= .milliseconds(200) {
                    lastProgress = .now
                    Self.progress(tally, total: lines.count, since: started)
                }
            }
        }
        let interrupted = tally.done < lines.count
        let elapsed = started.duration(to: .now)
        let seconds = max(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, 1e-6)
        let rate = Double(tally.done) / seconds
        printError(
            (showsProgress ? "\r\u{1B}[K" : "")
                + "directsmtp \(command): \(interrupted ? "interrupted after " : "")\(tally.done) of \(lines.count) lines in \(Self.format(seconds)) s (\(Self.format(rate))/s): \(tally.counts)"
        )
        return !interrupted
    }

    private func probe(line: Int, text: String) async -> Result {
        let address: EmailAddress
        do {
            address = try EmailAddress(text)
        } catch {
            return .malformed(line: line, input: text, error: error.description)
        }
        if Task.isCancelled { return .interrupted }
        return .outcome(line: line, await attempt(address))
    }

    private static func print(_ result: Result) {
        switch result {
        case .outcome(let line, let outcome):
            Swift.print("{\"line\":\(line)," + outcome.json.dropFirst())
        case .malformed(let line, let input, let error):
            Swift.print(
                "{\"line\":\(line),\"input\":\(JSONText.string(input)),\"error\":\(JSONText.string(error))}"
            )
        case .interrupted:
            return
        }
        fflush(nil)
    }

    private static func progress(_ tally: Tally, total: Int, since start: ContinuousClock.Instant) {
        let elapsed = start.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Double(tally.done) / seconds : 0
        let eta = rate > 0 ? Double(total - tally.done) / rate : 0
        let line =
            "\r\u{1B}[K\(tally.done)/\(total)  \(format(rate))/s  ETA \(Int(eta.rounded(.up))) s  \(tally.counts)"
        _ = Array(line.utf8).withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    private static func format(_ value: Double) -> String {
        String(format: "%.1f", value)
    }

    /// The whole of `path` (`-`: standard input), read on a thread of its own: standard
    /// input may be a pipe that blocks, and no thread of the cooperative pool may wait on it.
    private static func readAll(_ path: String) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    let handle =
                        path == "-" ? FileHandle.standardInput : try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
                    let data = try handle.readToEnd() ?? Data()
                    continuation.resume(returning: String(decoding: data, as: UTF8.self))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
    }
}
