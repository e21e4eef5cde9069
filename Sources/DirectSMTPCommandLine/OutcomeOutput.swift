import DirectSMTP

#if canImport(Glibc)
    import Glibc
#endif

/// How `probe`, `send` and `demo` print outcomes: one clear line, then the deciding reply
/// and timings (human), or one JSON object per line (`--json`); `--verbose` adds the
/// transcript (on standard error with `--json`, so standard output stays pure JSON).
enum OutcomeOutput {
    /// Prints `outcome`. `note` is a short human remark after the first line
    /// ("the transaction goes on; waiting for its end").
    static func print(
        _ outcome: VerificationOutcome, json: Bool, verbose: Bool, note: String? = nil
    ) {
        // Standard output is fully buffered when it is a pipe: without a flush, `send`'s
        // deferred line would reach a script only with the final one, at exit.
        defer { fflush(nil) }
        if json {
            Swift.print(outcome.json)
            if verbose { for line in outcome.transcript { printError(line.description) } }
            return
        }
        var lines = [headline(outcome)]
        if let reply = outcome.reply {
            lines.append(
                "  reply:   \(reply.code)\(reply.enhancedCode.map { " " + $0 } ?? "") \(reply.text.replacingNewlines)"
            )
        }
        if let detail = outcome.detail {
            lines.append("  detail:  \(detail)")
        }
        if let tls = outcome.tls {
            lines.append("  tls:     \(tls.version) \(tls.cipher)")
        }
        if let hint = outcome.hint {
            lines.append("  hint:    \(hint)")
        }
        if let catchAll = outcome.catchAll {
            lines.append(
                "  catch-all: \(catchAll ? "yes: the domain accepts any address, so accepted proves little" : "no")")
        }
        let phases = outcome.phaseTimings
        if !phases.isEmpty {
            let parts = phases.map { "\($0.name) \(milliseconds($0.duration))" }
            lines.append("  timings: " + parts.joined(separator: ", "))
        }
        if let note { lines.append("  note:    \(note)") }
        if verbose, !outcome.transcript.isEmpty {
            lines.append("  transcript:")
            lines += outcome.transcript.map { "    \($0)" }
        }
        Swift.print(lines.joined(separator: "\n"))
    }

    /// `rejected (recipient-rejected, scenario 5): a@example.com via mx1.example.com [192.0.2.1] in 12.5 ms`
    static func headline(_ outcome: VerificationOutcome) -> String {
        var text =
            "\(outcome.status.rawValue) (\(outcome.reason.rawValue), scenario \(outcome.scenario)): \(outcome.address)"
        if let mx = outcome.mx { text += " via \(mx.host) [\(mx.ip)]" }
        text += " in \(milliseconds(outcome.elapsed))"
        if outcome.fromCache { text += " (cached)" }
        if outcome.queued { text += ", queued for retry" }
        return text
    }

    /// `12.5 ms`.
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let tenths = (seconds * 10_000 + attoseconds / 100_000_000_000_000 + 0)
        return "\(tenths / 10).\(tenths % 10) ms"
    }
}

extension String {
    /// Multi-line reply text on one line, lines separated by " / ".
    var replacingNewlines: String {
        split(separator: "\n", omittingEmptySubsequences: false).joined(separator: " / ")
    }
}
