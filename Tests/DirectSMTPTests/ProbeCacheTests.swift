import Synchronization
import Testing

@testable import DirectSMTP

@Suite("Probe cache, coalescing, limits", .timeLimit(.minutes(1)))
struct ProbeCacheTests {
    @Test("Accepted is reused until the positive TTL ends")
    func positiveTTL() async {
        let clock = ManualClock()
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]), servers: ["127.0.0.11": .healthy],
            probeCache: ProbeCachePolicy(positiveTTL: .seconds(600), negativeTTL: .seconds(60)),
            clock: clock)
        let fresh = await engine.probe()
        #expect(fresh.fromCache == false)
        #expect(!fresh.transcript.isEmpty)
        let cached = await engine.probe("user@EXAMPLE.com")
        #expect(cached.fromCache)
        #expect(cached.reason == .accepted)
        #expect(cached.reply == fresh.reply && cached.mx == fresh.mx)
        #expect(cached.transcript.isEmpty, "the cache keeps no transcripts (bounded memory)")
        #expect(engine.dialer.snapshot.transactions.count == 1)
        clock.advance(by: .seconds(601))
        #expect(await engine.probe().fromCache == false)
        #expect(engine.dialer.snapshot.transactions.count == 2)
    }

    @Test(
        "Rejections use the negative TTL; deferrals are never cached",
        arguments: [
            (FakeServer.answering(550, "5.1.1", verdict: .recipientRejected), true),
            (FakeServer.answering(450, "4.2.0", verdict: .temporaryFailure), false),
            (FakeServer.answering(550, "5.7.1", verdict: .senderRejected), false),
        ])
    func negativeTTL(server: FakeServer, cached: Bool) async {
        let clock = ManualClock()
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]), servers: ["127.0.0.11": server],
            probeCache: ProbeCachePolicy(positiveTTL: .seconds(600), negativeTTL: .seconds(60)),
            clock: clock)
        _ = await engine.probe()
        #expect(await engine.probe().fromCache == cached)
        clock.advance(by: .seconds(61))
        #expect(await engine.probe().fromCache == false)
    }

    @Test("The local part is case-sensitive in the key, the domain is not")
    func keys() {
        #expect(ProbeCache.key(for: "User@Example.COM") == "User@example.com")
        #expect(ProbeCache.key(for: "\"a@b\"@X.org") == "\"a@b\"@x.org")
        #expect(ProbeCache.key(for: "User@example.com") == "User@example.com")
        #expect(ProbeCache.key(for: "a@Bücher.Example") == "a@bücher.example")
        #expect(ProbeCache.key(for: "no-at-sign") == "no-at-sign")
    }

    @Test("Identical probes in flight share one attempt")
    func coalescing() async {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
            servers: ["127.0.0.11": FakeServer(transactionDelay: .seconds(1))])
        let outcomes = await withTaskGroup(of: VerificationOutcome.self) { group in
            for _ in 0..<20 { group.addTask { await engine.probe() } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.allSatisfy { $0.reason == .accepted })
        #expect(engine.dialer.snapshot.transactions.count == 1)
        #expect(engine.lookup.calls.load(ordering: .relaxed) == 1)
    }

    @Test(
        "A probe joining one in flight keeps its own, longer budget: DNS is not cut at the first's")
    func joinerKeepsItsBudget() async {
        // The second probe must join before the first one's budget ends: 380 ms to spare,
        // for a loaded machine (other tests put thousands of tasks on the loop at once).
        let engine = FakeEngine(
            lookup: FakeLookup(
                hosts: [(10, "127.0.0.11")], delay: .milliseconds(800), honorsDeadline: true),
            servers: ["127.0.0.11": .healthy], probeCache: ProbeCachePolicy())
        let hurried = Task { await engine.probe(budget: .milliseconds(400)) }
        try? await Task.sleep(for: .milliseconds(20))
        let patient = await engine.probe(budget: .seconds(3))
        #expect(await hurried.value.reason == .dnsUnavailable)
        #expect(patient.reason == .accepted, "\(patient.detail ?? "")")
        #expect(engine.lookup.calls.load(ordering: .relaxed) == 1)
        // The attempt outlived the first caller's budget and filled the cache.
        #expect(await engine.probe(budget: .milliseconds(100)).fromCache)
    }

    @Test(
        "A full cache of fresh entries stays bounded and sweeps itself rarely, not on every store")
    func boundedAndAmortized() {
        let cache = ProbeCache(
            policy: ProbeCachePolicy(capacity: 80), clock: ManualClock().function)
        for index in 0..<800 {
            cache.store(
                VerificationOutcome(reason: .accepted, address: "u\(index)@example.com"),
                for: "u\(index)@example.com")
            #expect(cache.count <= 80)
        }
        #expect(cache.outcome(for: "u799@example.com") != nil, "the newest is kept")
        #expect(cache.sweeps <= 800 / 10, "\(cache.sweeps) sweeps of the whole table")
    }

    @Test("At most the destination's concurrency limit of attempts run at once")
    func destinationLimit() async {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
            servers: ["127.0.0.11": FakeServer(transactionDelay: .milliseconds(50))],
            concurrency: 2)
        let outcomes = await withTaskGroup(of: VerificationOutcome.self) { group in
            for index in 0..<6 { group.addTask { await engine.send("u\(index)@example.com") } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.allSatisfy { $0.reason == .accepted })
        #expect(engine.dialer.snapshot.maxActiveTransactions == 2)
        #expect(engine.limiter.active("example.com") == 0)
    }

    @Test("Thousands of sends queued for one destination's slot all end with their budgets")
    func limiterQueueEndsTogether() async {
        // Every waiter's budget ends while it waits, its withdrawal is part of the clean-up
        // 20 ms later, and the slot freed meanwhile passes over all of them: once a stack
        // frame each (6,000 deep), which overflowed the loop thread's stack.
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
            servers: ["127.0.0.11": .blackholed], concurrency: 1)
        let count = 6_000
        let reasons = await withTaskGroup(of: OutcomeReason.self) { group in
            for _ in 0..<count {
                group.addTask { await engine.send(budget: .milliseconds(300)).reason }
            }
            return await group.reduce(into: [OutcomeReason]()) { $0.append($1) }
        }
        #expect(reasons.count == count)
        // No host answers: each budget ends before one did (or, on a slow machine, before
        // the lookup's answer was taken in).
        let reached = reasons.filter { $0 != .noReachableHost && $0 != .dnsUnavailable }
        #expect(reached.isEmpty, "\(reached.count) calls ended otherwise: \(Set(reached))")
        let limit = ContinuousClock.now + .seconds(5)
        while engine.limiter.active("example.com") != 0, ContinuousClock.now < limit {
            try? await Task.sleep(for: .milliseconds(20))
        }
        #expect(engine.limiter.active("example.com") == 0)
    }

    @Test("Many waiters withdrawn at once all leave; the ones left are served in order")
    func limiterMassWithdrawal() {
        let limiter = DestinationLimiter(limit: 1)
        #expect(limiter.request("d", for: SlotLog()))
        let doomed = (0..<500).map { _ in SlotLog() }
        for waiter in doomed { #expect(!limiter.request("d", for: waiter)) }
        let kept = SlotLog()
        #expect(!limiter.request("d", for: kept))
        for waiter in doomed { limiter.withdraw("d", for: waiter) }
        limiter.release("d")  // the slot goes to the one waiter left
        #expect(doomed.allSatisfy { $0.grants.load(ordering: .relaxed) == 0 })
        #expect(kept.grants.load(ordering: .relaxed) == 1)
        #expect(limiter.active("d") == 1)
        limiter.release("d")
        #expect(limiter.active("d") == 0)
    }

    @Test("A freed slot passes over waiters that decline it, in order, to one that takes it")
    func limiterDeclinedSlots() {
        let limiter = DestinationLimiter(limit: 1)
        #expect(limiter.request("d", for: SlotLog()))
        // Enough decliners that one stack frame each would overflow the stack.
        let declining = (0..<100_000).map { _ in SlotLog(takes: false) }
        for waiter in declining { #expect(!limiter.request("d", for: waiter)) }
        let taker = SlotLog()
        let after = SlotLog()
        #expect(!limiter.request("d", for: taker))
        #expect(!limiter.request("d", for: after))
        limiter.release("d")
        #expect(declining.allSatisfy { $0.grants.load(ordering: .relaxed) == 1 })
        #expect(taker.grants.load(ordering: .relaxed) == 1)
        #expect(after.grants.load(ordering: .relaxed) == 0)
        #expect(limiter.active("d") == 1)
        limiter.release("d")  // to `after`
        limiter.release("d")
        #expect(after.grants.load(ordering: .relaxed) == 1)
        #expect(limiter.active("d") == 0)
    }

    @Test("A withdrawn waiter leaves the limiter's queue and takes no slot")
    func limiterWithdrawal() {
        let limiter = DestinationLimiter(limit: 1)
        #expect(limiter.request("d", for: SlotLog()))
        let waiter = SlotLog()
        #expect(!limiter.request("d", for: waiter))
        limiter.withdraw("d", for: waiter)
        limiter.release("d")
        #expect(waiter.grants.load(ordering: .relaxed) == 0)
        #expect(limiter.active("d") == 0)
        #expect(limiter.request("d", for: SlotLog()))
        limiter.release("d")
    }
}

/// Counts the slots granted to it; takes them, or declines them (`takes: false`).
private final class SlotLog: SlotWaiter {
    let grants = Atomic<Int>(0)
    let takes: Bool
    init(takes: Bool = true) { self.takes = takes }
    func slotGranted() -> Bool {
        grants.add(1, ordering: .relaxed)
        return takes
    }
}
