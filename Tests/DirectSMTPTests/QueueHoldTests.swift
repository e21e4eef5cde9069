import Foundation
import SMTPClient
import Sockets
import Testing

@testable import DirectSMTP

/// Held entries: a send whose transaction outlived its budget is stored at once, left
/// alone while the transaction runs, then settled by its outcome.
@Suite("Queue: entries held by a running transaction", .timeLimit(.minutes(1)))
struct QueueHoldTests {
    private static func hold(_ queue: TestQueue, notBefore: Duration = .seconds(20))
        async throws -> ClaimedEntry
    {
        try await queue.hold(
            from: "noreply@example.org", to: "new.user@example.com",
            data: Array("Subject: code\r\n\r\n123456\r\n".utf8), messageID: "<h1@test>",
            reason: "budget-exceeded", notBefore: notBefore)
    }

    @Test("A held entry is stored at once but never retried, purged or due while held")
    func heldIsLeftAlone() async throws {
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        let tried = Lock(0)
        let queue = TestQueue(store: InMemoryQueueStore(), clock: clock) { _ in
            tried.withLock { $0 += 1 }
            return .delivered
        }
        let entry = try await Self.hold(queue).entry
        #expect(entry.attempts == 0)
        #expect(
            entry.nextAttemptAt == clock.now.addingTimeInterval(300), "the schedule's first retry")
        #expect(try await queue.entries().map(\.id) == [entry.id])
        // Its lease (the transaction's bound, 20 s here) keeps everyone off it: not retried
        // when due, not even by --all, not purged however old.
        clock.advance(by: .seconds(19))
        #expect(try await queue.runDue().events.isEmpty)
        #expect(try await queue.runAll().events.isEmpty)
        #expect(try await queue.purgeExpired(maxAge: .seconds(10)).events.isEmpty)
        #expect(tried.withLock { $0 } == 0)
        #expect(try await queue.entries().count == 1)
    }

    @Test("The first retry waits for the transaction's own bound when that is longer")
    func notBeforeTransactionBound() async throws {
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        let queue = TestQueue(store: InMemoryQueueStore(), clock: clock) { _ in .delivered }
        let entry = try await Self.hold(queue, notBefore: .seconds(900)).entry
        #expect(entry.nextAttemptAt == clock.now.addingTimeInterval(900))
    }

    @Test(
        "Settled: delivered and rejected leave, deferred is scheduled as a first deferral",
        arguments: [
            RetryOutcome.delivered, .rejected(reason: "recipient-rejected"),
            .deferred(reason: "temporary-failure"),
        ])
    func settle(_ outcome: RetryOutcome) async throws {
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        let queue = TestQueue(store: InMemoryQueueStore(), clock: clock) { _ in .delivered }
        let entry = try await Self.hold(queue)
        clock.advance(by: .seconds(10))
        #expect(await queue.settle(entry, with: outcome))
        let left = try await queue.entries()
        if case .deferred = outcome {
            #expect(left.count == 1)
            #expect(left.first?.attempts == 1)
            #expect(left.first?.nextAttemptAt == clock.now.addingTimeInterval(300))
            #expect(try await queue.nextWakeDate() == clock.now.addingTimeInterval(300))
        } else {
            #expect(left.isEmpty)
        }
        #expect(await queue.settle(entry, with: outcome) == false, "settled once")
    }

    @Test("An entry being retried cannot be settled from outside its run")
    func retriedIsNotSettled() async throws {
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        let gate = Gate()
        let queue = TestQueue(store: InMemoryQueueStore(), clock: clock) { _ in
            await gate.wait()
            return .delivered
        }
        let entry = QueueTestSupport.entry(at: clock.now, nextAttemptAt: clock.now)
        try await queue.enqueue(entry)
        let run = Task { try await queue.runAll() }
        try await Task.sleep(for: .milliseconds(50))
        // Only the run's claim holds the entry; a lease from outside is not it.
        let outsider = ClaimedEntry(
            entry: entry,
            lease: QueueLease(
                entryID: entry.id, token: "outsider", expiresAt: clock.now.addingTimeInterval(600)))
        #expect(await queue.settle(outsider, with: .deferred(reason: "temporary-failure")) == false)
        gate.open()
        #expect(try await run.value.delivered == 1)
        #expect(try await queue.entries().isEmpty)
    }

    @Test("The transaction bound counts each command's write and reply, and each 64 KiB")
    func transactionBound() {
        let timeouts = SMTPTimeouts.interactive  // MAIL 3, RCPT 3, DATA 2, end of data 5 s
        #expect(
            VerificationCoordinator.transactionBound(timeouts, messageBytes: 2_000) == .seconds(26))
        #expect(
            VerificationCoordinator.transactionBound(timeouts, messageBytes: 200_000)
                == .seconds(41))
        // The lease outlasts the transaction by the settle's margin.
        #expect(VerificationCoordinator.heldLease(timeouts, messageBytes: 2_000) == .seconds(56))
    }

    @Test("After a restart nothing holds the entry: it is retried when due")
    func restartRetries() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        let held: ClaimedEntry
        do {
            let store = try await FileJournalQueueStore.open(path: path)
            let queue = TestQueue(store: store, clock: clock) { _ in .delivered }
            held = try await Self.hold(queue)
            await store.close()  // the process stops before the transaction ends
        }
        let delivered = Lock<[String]>([])
        let store = try await FileJournalQueueStore.open(path: path)
        defer { Task { await store.close() } }
        let queue = TestQueue(store: store, clock: clock) { entry in
            delivered.withLock { $0.append(entry.id) }
            return .delivered
        }
        #expect(try await queue.entries().map(\.id) == [held.entry.id])
        #expect(try await queue.runDue().events.isEmpty, "not due yet")
        // Its transaction may still run in the process that held it: not even --all.
        #expect(try await queue.runAll().events.isEmpty)
        clock.advance(by: .seconds(300))
        #expect(try await queue.runDue().delivered == 1)
        #expect(delivered.withLock { $0 } == [held.entry.id])
        #expect(try await queue.entries().isEmpty)
    }
}
