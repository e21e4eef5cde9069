import SMTPClient
import Synchronization
import Testing

@testable import DirectSMTP

/// What a hold handler saw: the outcomes it stored, and the finals it settled.
private final class HoldLog: Sendable {
    let held = Mutex<[VerificationOutcome]>([])
    let settled = Mutex<[VerificationOutcome]>([])
    let deferred = Mutex<[VerificationOutcome]>([])
    /// Stores begun (the caller got budget-exceeded and is storing).
    let storing = Mutex(0)

    /// A hold handler that stores after `gate` opens (if any), or fails with `stores: false`.
    func holder(stores: Bool = true, gate: Gate? = nil) -> FakeEngine.HoldHandler {
        { outcome in
            self.storing.withLock { $0 += 1 }
            await gate?.wait()
            self.held.withLock { $0.append(outcome) }
            guard stores else { return nil }
            return { final in
                self.settled.withLock { $0.append(final) }
                return final.status == .deferred
            }
        }
    }

    var onDeferred: FakeEngine.DeferredHandler {
        { outcome in
            self.deferred.withLock { $0.append(outcome) }
            return true
        }
    }
}

private let deferredResult = SMTPResult(
    verdict: .temporaryFailure, step: .rcpt, reply: SMTPReply(451, "4.3.0 later"))

/// With a queue attached, a send whose budget ends inside its transaction is stored before
/// the caller's answer, and its final outcome settles it.
@Suite("Held sends", .serialized, .timeLimit(.minutes(1)))
struct HeldSendTests {
    @Test(
        "budget-exceeded is stored before returning; the final outcome settles it",
        arguments: [true, false])
    func heldThenSettled(endsDeferred: Bool) async throws {
        let gate = Gate()
        var server = FakeServer(transactionGate: gate)
        if endsDeferred { server.transactionResult = deferredResult }
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]), servers: ["127.0.0.11": server])
        let log = HoldLog()
        let outcome = await engine.send(
            budget: .milliseconds(800), onDeferred: log.onDeferred, onHold: log.holder())
        #expect(outcome.reason == .budgetExceeded)
        #expect(outcome.queued)
        #expect(log.held.withLock { $0.map(\.reason) } == [.budgetExceeded])
        #expect(log.settled.withLock { $0.isEmpty })
        gate.open()
        let event = try #require(await firstEvent(of: engine, within: .seconds(5)))
        #expect(event.outcome.reason == (endsDeferred ? .temporaryFailure : .accepted))
        #expect(event.outcome.queued == endsDeferred)
        #expect(log.settled.withLock { $0.map(\.reason) } == [event.outcome.reason])
        #expect(log.deferred.withLock { $0.isEmpty }, "settled, not enqueued a second time")
        #expect(engine.dialer.snapshot.transactions.count == 1)
    }

    @Test("A transaction ending while the caller still stores waits for the store, then settles")
    func transactionEndsDuringStore() async throws {
        let transactionGate = Gate()
        let storeGate = Gate()
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
            servers: ["127.0.0.11": FakeServer(transactionGate: transactionGate)])
        let log = HoldLog()
        let caller = Task {
            await engine.send(
                budget: .milliseconds(800), onDeferred: log.onDeferred,
                onHold: log.holder(gate: storeGate))
        }
        let events = engine.events
        // Once the budget has ended and the caller is storing, the transaction finishes.
        let clock = ContinuousClock()
        let limit = clock.now + .seconds(10)
        while log.storing.withLock({ $0 }) == 0, clock.now < limit {
            try await Task.sleep(for: .milliseconds(5))
        }
        transactionGate.open()
        while engine.dialer.snapshot.activeTransactions > 0, clock.now < limit {
            try await Task.sleep(for: .milliseconds(5))
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(log.settled.withLock { $0.isEmpty }, "not before the message is stored")
        storeGate.open()
        let outcome = await caller.value
        #expect(outcome.reason == .budgetExceeded && outcome.queued)
        let event = try #require(await events.first(within: .seconds(5)))
        #expect(event.outcome.reason == .accepted)
        #expect(log.settled.withLock { $0.map(\.reason) } == [.accepted])
    }

    @Test("A caller cancelled inside the transaction is held too, and settled later")
    func cancelledCallerIsHeld() async throws {
        let gate = Gate()
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
            servers: ["127.0.0.11": FakeServer(transactionGate: gate)])
        let log = HoldLog()
        let caller = Task {
            await engine.send(budget: .seconds(30), onDeferred: log.onDeferred, onHold: log.holder())
        }
        let clock = ContinuousClock()
        let limit = clock.now + .seconds(10)
        while engine.dialer.snapshot.transactions.isEmpty, clock.now < limit {
            try await Task.sleep(for: .milliseconds(5))
        }
        caller.cancel()
        let outcome = await caller.value
        #expect(outcome.reason == .budgetExceeded && outcome.queued)
        gate.open()
        let event = try #require(await firstEvent(of: engine, within: .seconds(5)))
        #expect(event.outcome.reason == .accepted)
        #expect(log.settled.withLock { $0.map(\.reason) } == [.accepted])
    }

    @Test("If the store fails, the send is not queued, and a deferred final is queued as before")
    func storeFails() async throws {
        let gate = Gate()
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
            servers: [
                "127.0.0.11": FakeServer(transactionGate: gate, transactionResult: deferredResult)
            ])
        let log = HoldLog()
        let outcome = await engine.send(
            budget: .milliseconds(800), onDeferred: log.onDeferred,
            onHold: log.holder(stores: false))
        #expect(outcome.reason == .budgetExceeded)
        #expect(!outcome.queued)
        gate.open()
        let event = try #require(await firstEvent(of: engine, within: .seconds(5)))
        #expect(event.outcome.queued)
        #expect(log.deferred.withLock { $0.map(\.reason) } == [.temporaryFailure])
        #expect(log.settled.withLock { $0.isEmpty })
    }

    @Test("Outcomes inside the budget are never held")
    func notHeldInsideBudget() async {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
            servers: ["127.0.0.11": .answering(450, "4.2.0", verdict: .temporaryFailure)])
        let log = HoldLog()
        let outcome = await engine.send(onDeferred: log.onDeferred, onHold: log.holder())
        #expect(outcome.reason == .temporaryFailure && outcome.queued)
        #expect(log.held.withLock { $0.isEmpty })
        #expect(log.deferred.withLock { $0.count } == 1)
    }
}
