import Synchronization
import Testing

@testable import DirectSMTP

/// Work nobody waits for never delays work somebody waits for: an attempt whose callers
/// all left gives its per-destination slot back, and one that had not connected yet is
/// never started (issue: probes starving each other under load).
@Suite("Starvation", .serialized, .timeLimit(.minutes(1)))
struct StarvationTests {
    /// `count` calls, `concurrency` at a time; how many were accepted.
    private func accepted(
        _ count: Int, concurrency: Int, _ call: @escaping @Sendable (Int) async -> VerificationOutcome
    ) async -> Int {
        await withTaskGroup(of: Bool.self) { group in
            var next = 0
            var accepted = 0
            while next < min(concurrency, count) {
                let index = next
                group.addTask { await call(index).reason == .accepted }
                next += 1
            }
            while let one = await group.next() {
                if one { accepted += 1 }
                if next < count {
                    let index = next
                    group.addTask { await call(index).reason == .accepted }
                    next += 1
                }
            }
            return accepted
        }
    }

    /// A server that in turn accepts and hangs, a small per-destination limit.
    private func engine(limit: Int) -> FakeEngine {
        FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]), servers: [:], concurrency: limit,
            rotations: ["127.0.0.11": [.healthy, .blackholed]])
    }

    @Test("Probes against a server that hangs every other time get as far as sends")
    func probesDoNotStarve() async {
        // 10 callers at a time, below the limit of 16: only attempts that keep their slot
        // after their callers left (each hung one, for its step timeouts) can fill it.
        let calls = 120
        let probes = engine(limit: 16)
        let probed = await accepted(calls, concurrency: 10) { index in
            await probes.probe("p\(index)@example.com", budget: .milliseconds(100))
        }
        let sends = engine(limit: 16)
        let sent = await accepted(calls, concurrency: 10) { index in
            await sends.send("s\(index)@example.com", budget: .milliseconds(100))
        }
        let unlimited = engine(limit: 1000)
        let probedUnlimited = await accepted(calls, concurrency: 10) { index in
            await unlimited.probe("p\(index)@example.com", budget: .milliseconds(100))
        }
        #expect(sent > 0)
        #expect(Double(probed) >= 0.9 * Double(sent), "probes \(probed), sends \(sent)")
        #expect(
            Double(probed) >= 0.9 * Double(probedUnlimited),
            "limit 16: \(probed), unlimited: \(probedUnlimited)")
    }

    @Test("Probes whose callers left connect no more; their connections close, the slots come back")
    func abandonedProbesNeverConnect() async throws {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
            servers: ["127.0.0.11": .blackholed], concurrency: 2)
        let outcomes = await withTaskGroup(of: VerificationOutcome.self) { group in
            for index in 0..<10 {
                group.addTask { await engine.probe("u\(index)@example.com", budget: .milliseconds(100)) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let answered = ContinuousClock.now
        #expect(outcomes.allSatisfy { $0.reason == .noReachableHost })
        #expect(outcomes.allSatisfy { $0.ms < 100 + slack })
        // The abandoned attempts close their connections at once.
        let limit = ContinuousClock.now + .seconds(5)
        while engine.attemptsRunning > 0, ContinuousClock.now < limit {
            try await Task.sleep(for: .milliseconds(10))
        }
        let log = engine.dialer.snapshot
        #expect(log.opened.count < 10, "attempts still waiting for a slot at their callers' end never dial")
        #expect(log.openStarts.values.allSatisfy { $0 <= answered }, "no connection after every caller left")
        #expect(Set(log.closed) == Set(log.opened))
        #expect(engine.limiter.active("example.com") == 0)
        #expect(engine.attemptsRunning == 0)
    }
}
