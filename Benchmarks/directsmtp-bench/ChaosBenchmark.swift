// `chaos`: sends and probes through mock servers that inject one random fault each (a fixed
// seed), checking every answer's deadline, the delivery guarantees and fds/RSS afterwards.

import DirectSMTPTesting

enum ChaosBenchmark {
    static func run(_ arguments: [String]) async -> Int32 {
        let flags = BenchOptions(arguments)
        let options = ChaosSoak.Options(
            sessions: flags.int("--sessions", default: 10_000),
            seed: UInt64(max(0, flags.int("--seed", default: 1))),
            budget: .milliseconds(flags.int("--budget", default: 500)),
            stepTimeout: .milliseconds(flags.int("--step-timeout", default: 150)),
            lanes: flags.int("--lanes", default: 16),
            slack: .milliseconds(flags.int("--slack", default: 5)))
        let soak: ChaosSoak.Report
        do {
            soak = try await ChaosSoak.run(options)
        } catch {
            print("chaos benchmark failed: \(error)")
            return 1
        }
        let mix = soak.outcomes.sorted { $0.value > $1.value }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let faults = soak.faults.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        report("chaos", [
            "sessions": soak.sessions,
            "seed": Int(options.seed),
            "budgetMs": Int(options.budget / .milliseconds(1)),
            "stepTimeoutMs": Int(options.stepTimeout / .milliseconds(1)),
            "lanes": options.lanes,
            "outcomes": mix,
            "faults": faults,
            "violations": soak.violationCount,
            "unexpectedOutcomes": soak.unexpectedCount,
            "lateAnswers": soak.lateCount,
            "maxOvershootMs": rounded(soak.maxOvershoot.milliseconds),
            "deliveredAfterBudget": soak.deliveredAfterBudget,
            "deliveredAfter250Timeout": soak.deliveredAfterTimeout,
            "fdsBefore": soak.descriptorsBefore,
            "fdsAfter": soak.descriptorsAfter,
            "fdsLeaked": soak.leakedDescriptors.joined(separator: ", "),
            "rssBeforeKiB": soak.residentBefore,
            "rssWarmKiB": soak.residentWarm,
            "rssAfterKiB": soak.residentAfter,
            "seconds": rounded(soak.elapsed.seconds),
        ], json: flags.has("--json"))
        if !flags.has("--json") {
            for line in soak.violations { print("  violation: \(line)") }
            for line in soak.unexpected { print("  unexpected: \(line)") }
        }
        return soak.violationCount == 0 ? 0 : 1
    }
}
