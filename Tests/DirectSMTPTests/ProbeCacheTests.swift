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
        let engine = FakeEngine(
            lookup: FakeLookup(
                hosts: [(10, "127.0.0.11")], delay: .milliseconds(300), honorsDeadline: true),
            servers: ["127.0.0.11": .healthy], probeCache: ProbeCachePolicy())
        let hurried = Task { await engine.probe(budget: .milliseconds(100)) }
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

/// Counts the slots granted to it.
private final class SlotLog: SlotWaiter {
    let grants = Atomic<Int>(0)
    func slotGranted() { grants.add(1, ordering: .relaxed) }
}
