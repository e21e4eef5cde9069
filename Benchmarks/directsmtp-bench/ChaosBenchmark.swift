// `chaos`: sends and probes through mock servers that inject one random fault each (a fixed
// seed), checking every answer's deadline, the delivery guarantees and fds/RSS afterwards.
//
// With `--rounds R` the same soak runs R times in one process. Memory the library keeps
// grows round after round; memory the C allocator keeps for reuse after the first round's
// high-water mark does not. The report tells the two apart: the allocator's bytes in use
// (mallinfo2) and the RSS left after `malloc_trim(0)` at the end.

import DirectSMTPTesting
import Sockets

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
        let rounds = max(1, flags.int("--rounds", default: 2))
        let json = flags.has("--json")
        var violations = 0
        var baseline = 0
        var heapBaseline = 0
        for round in 1...rounds {
            let soak: ChaosSoak.Report
            do {
                soak = try await ChaosSoak.run(options)
            } catch {
                print("chaos benchmark failed: \(error)")
                return 1
            }
            if round == 1 {
                baseline = soak.residentBefore
                heapBaseline = soak.heapInUseBefore
            }
            violations += soak.violationCount
            let mix = soak.outcomes.sorted { $0.value > $1.value }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let faults = soak.faults.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let byFault = soak.outcomesByFault.sorted { $0.key < $1.key }.map { fault, outcomes in
                "\(fault): " + outcomes.sorted { $0.value > $1.value }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            }
            let tls = soak.tlsSessions.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            report("chaos", [
                "round": "\(round) of \(rounds)",
                "sessions": soak.sessions,
                "seed": Int(options.seed),
                "budgetMs": Int(options.budget / .milliseconds(1)),
                "stepTimeoutMs": Int(options.stepTimeout / .milliseconds(1)),
                "lanes": options.lanes,
                "outcomes": mix,
                "outcomesByFault": byFault.joined(separator: "; "),
                "faults": faults,
                "tlsSessions": tls,
                "violations": soak.violationCount,
                "unexpectedOutcomes": soak.unexpectedCount,
                "lateAnswers": soak.lateCount,
                "maxOvershootMs": rounded(soak.maxOvershoot.milliseconds),
                "deliveredAfterBudget": soak.deliveredAfterBudget,
                "deliveredAfter250Timeout": soak.deliveredAfterTimeout,
                "fdsBefore": soak.descriptorsBefore,
                "fdsAfter": soak.descriptorsAfter,
                "fdsLeaked": soak.leakedDescriptors.joined(separator: ", "),
                "rssBaselineKiB": baseline,
                "rssBeforeKiB": soak.residentBefore,
                "rssWarmKiB": soak.residentWarm,
                "rssPeakKiB": soak.residentPeak,
                "rssAfterKiB": soak.residentAfter,
                "rssAnonBeforeKiB": soak.anonymousBefore,
                "rssAnonAfterKiB": soak.anonymousAfter,
                "tlsSessionsCached": soak.tlsSessionsCached,
                "heapInUseBaselineKiB": heapBaseline / 1024,
                "heapInUseBeforeKiB": soak.heapInUseBefore / 1024,
                "heapInUseAfterKiB": soak.heapInUseAfter / 1024,
                "seconds": rounded(soak.elapsed.seconds),
            ], json: json)
            if !json {
                for line in soak.violations { print("  violation: \(line)") }
                for line in soak.unexpected { print("  unexpected: \(line)") }
            }
        }
        // What is left once the allocator gives its free memory back: the memory the
        // process really holds after the soak.
        ProcessResources.trimHeap()
        let afterTrim = (ProcessResources.residentKiB(), ProcessResources.residentAnonymousKiB(), ProcessResources.heapInUseBytes())
        // And without the process's TLS session cache (bounded, 4,096 servers).
        #if OpenSSL
        (try? TLSContext.opportunisticClient())?.sessionCache?.removeAll()
        #endif
        ProcessResources.trimHeap()
        report("chaos-memory", [
            "rssBaselineKiB": baseline,
            "rssAfterTrimKiB": afterTrim.0,
            "rssAnonAfterTrimKiB": afterTrim.1,
            "heapInUseBaselineKiB": heapBaseline / 1024,
            "heapInUseAfterKiB": afterTrim.2 / 1024,
            "rssAnonWithoutTLSCacheKiB": ProcessResources.residentAnonymousKiB(),
            "heapInUseWithoutTLSCacheKiB": ProcessResources.heapInUseBytes() / 1024,
        ], json: json)
        return violations == 0 ? 0 : 1
    }
}
