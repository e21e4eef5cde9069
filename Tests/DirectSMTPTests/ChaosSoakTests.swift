import DirectSMTP
import DirectSMTPTesting
import Testing

/// The chaos soak of the harness (`directsmtp-bench chaos`), short: a few hundred sessions
/// of random faults with a fixed seed.
@Suite(.serialized)
struct ChaosSoakTests {
    @Test func aShortSoakKeepsEveryGuarantee() async throws {
        // The harness holds answers to budget + 5 ms on an idle machine; a test shares its
        // cores with the rest of the suite, so its slack is wider (and wider again under a
        // sanitizer).
        let options = ChaosSoak.Options(
            sessions: 300, seed: 20261206, budget: .milliseconds(400), stepTimeout: .milliseconds(120),
            lanes: 8, sessionsPerServer: 20, slack: TimingScale.scaled(.milliseconds(100)))
        let report = try await ChaosSoak.run(options)
        #expect(report.sessions == 300)
        // Issue 17 item 3, being fixed: a 250 after the final dot followed by a surplus line
        // is reported deferred, not accepted. Every other broken guarantee fails the test.
        let surplusAfterDot = report.violations.filter { $0.contains("surplus at end-of-data") }
        let others = report.violations.filter { !$0.contains("surplus at end-of-data") }
        #expect(others.isEmpty, "\(report.violationCount) broken: \(report.violations)")
        withKnownIssue("a 250 to the final dot followed by a surplus reply is reported deferred", isIntermittent: true) {
            #expect(surplusAfterDot.isEmpty)
        }
        #expect(report.descriptorsAfter <= report.descriptorsBefore)
        // Sessions without a fault are all accepted: the soak's servers work at all.
        let faultless = report.faults["none"] ?? 0
        #expect(faultless > 30)
        #expect((report.outcomes["accepted/accepted"] ?? 0) >= faultless - report.unexpectedCount)
    }

    @Test func plansRepeatForASeed() {
        var first = ChaosRandom(seed: 9)
        var second = ChaosRandom(seed: 9)
        let a = (0..<50).map { _ in ChaosPlan.draw(using: &first) }
        let b = (0..<50).map { _ in ChaosPlan.draw(using: &second) }
        #expect(a == b)
        #expect(Set(a.map(\.fault)).count > 4)
    }
}
