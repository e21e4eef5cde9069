import SMTPClient
import Sockets
import Synchronization
import Testing

@testable import DirectSMTP

/// The budget: the call returns by then, always; the phase decides the reason; a send's
/// transaction outlives the call and reports on the event stream.
/// Timing bounds allow `slack` for a loaded machine (tests run beside other suites on 2
/// shared cores); the benchmark measures the tight bound (budget + 20 ms).
@Suite("Budget", .serialized, .timeLimit(.minutes(1)))
struct BudgetTests {
    @Test("DNS silent: dns-unavailable at the budget, mx null")
    func dnsSilent() async {
        let engine = FakeEngine(
            lookup: FakeLookup(.dnsUnavailable("late"), delay: .seconds(10)), servers: [:])
        let outcome = await engine.send(budget: .milliseconds(200))
        #expect(outcome.reason == .dnsUnavailable)
        #expect(outcome.mx == nil)
        #expect(outcome.ms >= 195 && outcome.ms < 200 + slack, "took \(outcome.ms) ms")
    }

    @Test("Every host blackholed: no-reachable-host at the budget; the send never starts later")
    func allBlackholed() async {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11"), (20, "127.0.0.12")]),
            servers: ["127.0.0.11": .blackholed, "127.0.0.12": .blackholed],
            stagger: .milliseconds(50))
        let outcome = await engine.send(budget: .milliseconds(300))
        #expect(outcome.reason == .noReachableHost)
        #expect(outcome.mx?.ip == "127.0.0.12", "the last one tried")
        #expect(outcome.ms >= 295 && outcome.ms < 300 + slack, "took \(outcome.ms) ms")
        try? await Task.sleep(for: .milliseconds(100))
        let log = engine.dialer.snapshot
        #expect(log.transactions.isEmpty)
        #expect(Set(log.closed) == Set(log.opened), "the abandoned race closed its connections")
    }

    @Test("Budget ends before EHLO but a host opens later: the send is abandoned, never delivered")
    func abandonedBeforeTransaction() async {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
            servers: ["127.0.0.11": FakeServer(openDelay: .milliseconds(300))])
        let queued = Lock<[OutcomeReason]>([])
        let outcome = await engine.send(
            budget: .milliseconds(100),
            onDeferred: { outcome in
                queued.withLock { $0.append(outcome.reason) }
                return true
            })
        #expect(outcome.reason == .noReachableHost)
        #expect(outcome.queued)
        #expect(queued.withLock { $0 } == [.noReachableHost])
        try? await Task.sleep(for: .milliseconds(400))
        #expect(engine.dialer.snapshot.transactions.isEmpty)
    }

    @Test(
        "Budget inside the transaction: budget-exceeded now, the real outcome on the event stream later"
    )
    func budgetExceededThenEvent() async throws {
        let gate = Gate()
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
            servers: ["127.0.0.11": FakeServer(transactionGate: gate)])
        let outcome = await engine.send(budget: .milliseconds(800))
        #expect(outcome.reason == .budgetExceeded)
        #expect(outcome.scenario == 2)
        #expect(!outcome.queued)
        #expect(outcome.mx?.ip == "127.0.0.11")
        #expect(outcome.ms >= 795 && outcome.ms < 800 + slack, "took \(outcome.ms) ms")
        #expect(engine.dialer.snapshot.transactions.count == 1, "still running")
        gate.open()
        let event = try #require(await firstEvent(of: engine, within: .seconds(5)))
        #expect(event.messageID == "<m1@test>")
        #expect(event.outcome.reason == .accepted)
        #expect(event.outcome.ms >= 795)
        #expect(engine.dialer.snapshot.transactions.count == 1)
    }

    @Test(
        "A budget's clean-up cancels the race's dials, also when the deferral was stored before it",
        arguments: [false, true])
    func cleanUpCancelsDials(queued: Bool) async {
        // With a queue the caller is answered once the deferral is stored, which a fast
        // store does within the clean-up's 20 ms: the attempt then ended first, and its
        // dials' handles were gone when the clean-up came to cancel them (the blackholed
        // dial ran on to its step timeouts, its slot already given to the next call).
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
            servers: ["127.0.0.11": .blackholed])
        let stored: FakeEngine.DeferredHandler = { _ in true }
        let outcome = await engine.send(budget: .milliseconds(300), onDeferred: queued ? stored : nil)
        #expect(outcome.reason == .noReachableHost)
        #expect(outcome.queued == queued)
        let limit = ContinuousClock.now + .seconds(2)
        while engine.dialer.snapshot.closed.isEmpty, ContinuousClock.now < limit {
            try? await Task.sleep(for: .milliseconds(10))
        }
        #expect(engine.dialer.snapshot.closed == ["127.0.0.11"])
        #expect(engine.limiter.active("example.com") == 0)
    }

    @Test("A verdict known before the budget is the answer, even if the bookkeeping after the race runs past it")
    func winnerBeforeBudgetGivesItsVerdict() async throws {
        // The first host refuses at once but its record takes 400 ms to collect; the
        // second wins the race and its transaction ends at once. The budget (150 ms) ends
        // while the engine collects the loser's record: the verdict is known, so it is the
        // answer (not no-reachable-host with the ready session thrown away, nor
        // budget-exceeded with the verdict sent after it as an event).
        var refusing = FakeServer.refusing()
        refusing.finishDelay = .milliseconds(400)
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11"), (20, "127.0.0.12")]),
            servers: ["127.0.0.11": refusing, "127.0.0.12": .healthy])
        let outcome = await engine.send(budget: .milliseconds(150))
        #expect(outcome.reason == .accepted, "\(outcome)")
        #expect(outcome.mx?.ip == "127.0.0.12")
        #expect(outcome.ms >= 145 && outcome.ms < 150 + slack, "took \(outcome.ms) ms")
        #expect(await firstEvent(of: engine, within: .milliseconds(500)) == nil)
        #expect(engine.dialer.snapshot.transactions == ["127.0.0.12"])
    }

    @Test("A host ready before the budget: budget-exceeded even if a cancelled loser is slow to unwind")
    func winnerBeforeSlowLoserUnwinds() async throws {
        // The first host never answers and takes 400 ms to unwind once cancelled; the
        // second wins at the stagger (50 ms) and its transaction takes 300 ms. The budget
        // (150 ms) ends while the loser still unwinds: the winner's phase is the
        // transaction's. (The transaction no longer waits for the loser to unwind.)
        var slowLoser = FakeServer.blackholed
        slowLoser.unwindDelay = .milliseconds(400)
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11"), (20, "127.0.0.12")]),
            servers: [
                "127.0.0.11": slowLoser,
                "127.0.0.12": FakeServer(transactionDelay: .milliseconds(300)),
            ],
            stagger: .milliseconds(50))
        let outcome = await engine.send(budget: .milliseconds(150))
        #expect(outcome.reason == .budgetExceeded, "\(outcome)")
        #expect(outcome.ms < 150 + slack, "took \(outcome.ms) ms")
        let event = try #require(await firstEvent(of: engine, within: .seconds(5)))
        #expect(event.outcome.reason == .accepted)
        #expect(engine.dialer.snapshot.transactions == ["127.0.0.12"])
    }

    @Test("A transaction that ends deferred after the budget goes to the queue and says so")
    func lateDeferralIsQueued() async throws {
        let gate = Gate()
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
            servers: [
                "127.0.0.11": FakeServer(
                    transactionGate: gate,
                    transactionResult: SMTPResult(
                        verdict: .temporaryFailure, step: .rcpt, reply: SMTPReply(451, "4.3.0 later")))
            ])
        let handed = Atomic<Int>(0)
        let outcome = await engine.send(
            budget: .milliseconds(800),
            onDeferred: { _ in
                handed.add(1, ordering: .relaxed)
                return true
            })
        #expect(outcome.reason == .budgetExceeded)
        #expect(!outcome.queued)
        #expect(handed.load(ordering: .relaxed) == 0)
        gate.open()
        let event = try #require(await firstEvent(of: engine, within: .seconds(5)))
        #expect(event.outcome.reason == .temporaryFailure)
        #expect(event.outcome.queued)
        #expect(handed.load(ordering: .relaxed) == 1)
    }

    @Test("A deferred send inside the budget is queued before the call returns; no event")
    func deferredInBudget() async {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
            servers: ["127.0.0.11": .answering(450, "4.2.0", verdict: .temporaryFailure)])
        let outcome = await engine.send(onDeferred: { _ in true })
        #expect(outcome.reason == .temporaryFailure)
        #expect(outcome.queued)
        #expect(await firstEvent(of: engine, within: .milliseconds(100)) == nil)
    }

    @Test("A probe at the budget inside RCPT: budget-exceeded; the late answer fills the cache")
    func probeBudget() async {
        let gate = Gate()
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
            servers: ["127.0.0.11": FakeServer(transactionGate: gate)],
            probeCache: ProbeCachePolicy())
        let first = await engine.probe(budget: .milliseconds(800))
        #expect(first.reason == .budgetExceeded)
        gate.open()
        try? await Task.sleep(for: .milliseconds(300))
        let second = await engine.probe(budget: .milliseconds(800))
        #expect(second.reason == .accepted)
        #expect(second.fromCache)
        #expect(engine.dialer.snapshot.transactions.count == 1)
    }

    @Test("A cancelled caller gets its answer at once")
    func cancellation() async {
        let engine = FakeEngine(
            lookup: FakeLookup(.dnsUnavailable("late"), delay: .seconds(10)), servers: [:])
        let clock = ContinuousClock()
        let start = clock.now
        let task = Task { await engine.send(budget: .seconds(5)) }
        try? await Task.sleep(for: .milliseconds(50))
        task.cancel()
        let outcome = await task.value
        #expect(outcome.reason == .dnsUnavailable)
        #expect(start.duration(to: clock.now) < .milliseconds(Int64(slack)))
    }

    @Test("Many concurrent calls against blackholed hosts all return by the budget")
    func manyBlackholed() async {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11"), (20, "127.0.0.12")]),
            servers: ["127.0.0.11": .blackholed, "127.0.0.12": .blackholed],
            concurrency: 1000)
        let worst = await withTaskGroup(of: Double.self) { group in
            for index in 0..<200 {
                group.addTask {
                    await engine.send("u\(index)@example.com", budget: .milliseconds(200)).ms
                }
            }
            return await group.reduce(0) { max($0, $1) }
        }
        #expect(worst < 200 + slack, "worst \(worst) ms")
    }
}

/// Extra milliseconds a timing bound tolerates on a loaded machine.
let slack = 3000.0

/// The first event the engine publishes within `limit`, or nil.
func firstEvent(of engine: FakeEngine, within limit: Duration) async -> DeliveryEvent? {
    await engine.events.first(within: limit)
}
