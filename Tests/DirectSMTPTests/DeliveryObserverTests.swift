import DirectSMTP
import Foundation
import Sockets
import Testing

/// Keeps everything an observer is told, for the tests to look at.
final class RecordingObserver: DeliveryObserver {
    struct Record: Sendable {
        var started: [AttemptStarted] = []
        var finished: [AttemptFinished] = []
        var queue: [QueueActivity] = []
    }

    private let state = Lock(Record())
    var record: Record { state.withLock { $0 } }

    func attemptStarted(_ attempt: AttemptStarted) { state.withLock { $0.started.append(attempt) } }
    func attemptFinished(_ attempt: AttemptFinished) { state.withLock { $0.finished.append(attempt) } }
    func queueActivity(_ activity: QueueActivity) { state.withLock { $0.queue.append(activity) } }
}

/// The observer set in the configuration sees every attempt and queue event, never the
/// message; the queue clock set there drives the queue, so a retry needs no real waiting.
@Suite("Observer and queue clock", .timeLimit(.minutes(1)))
struct DeliveryObserverTests {
    @Test("A send and a probe: started, then finished with the outcome the caller got")
    func sendAndProbeObserved() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let (coordinator, observer) = try observedCoordinator(world)
        let message = try welcome("user@ok.test")
        let sent = await coordinator.send(message, budget: .seconds(2))
        let probed = await coordinator.probe(try EmailAddress("nobody@ok.test"))
        let record = observer.record
        #expect(record.started.map(\.kind) == [.send, .probe])
        #expect(record.started.map(\.recipientDomain) == ["ok.test", "ok.test"])
        #expect(record.started.first?.messageID == sent.messageID)
        #expect(record.started.first?.budget == .seconds(2))
        #expect(record.finished.map(\.kind) == [.send, .probe])
        #expect(record.finished.map(\.outcome) == [sent, probed])
        #expect(record.finished.allSatisfy { !$0.isLateFinal })
        #expect(record.queue.isEmpty)
    }

    @Test("A deferred send is queued and re-sent on the injected clock, with no real wait")
    func queueEventsOnTheInjectedClock() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let observer = RecordingObserver()
        let clock = ManualQueueClock()
        var configuration = world.configuration()
        configuration.queueStore = InMemoryQueueStore()
        configuration.retrySchedule = RetrySchedule(firstRetry: .seconds(3600), maxAge: .seconds(86_400))
        configuration.queueClock = clock
        configuration.observer = observer
        let coordinator = try VerificationCoordinator(configuration: configuration)
        let background = Task { await coordinator.run() }
        defer { background.cancel() }

        let secret = "Your code is 918273"
        var message = try welcome("grey@ok.test")
        message.subject = secret
        message.text = secret
        let outcome = await coordinator.send(message)
        #expect(outcome.queued)
        world.smtp.update { $0.recipients["grey@ok.test"] = nil }
        // An hour passes on the queue's clock once its runner sleeps on it.
        let started = ContinuousClock.now
        #expect(await waitUntil { clock.sleeperCount > 0 })
        clock.advance(by: .seconds(3601))
        #expect(await waitUntil { world.smtp.deliveryCount == 1 })
        #expect(started.duration(to: .now) < .seconds(10))
        background.cancel()
        await background.value

        let record = observer.record
        #expect(record.queue.map(\.kind) == [.enqueued, .delivered])
        let enqueued = try #require(record.queue.first)
        #expect(enqueued.recipientDomain == "ok.test")
        #expect(enqueued.reason == "temporary-failure")
        #expect(enqueued.messageID == outcome.messageID)
        #expect(enqueued.nextAttemptAt == clock.now.addingTimeInterval(-1))
        #expect(record.queue.last?.attempts == 2)
        #expect(record.started.map(\.kind) == [.send, .redelivery])
        #expect(record.finished.map(\.outcome.status) == [.deferred, .accepted])
        // Nothing of the message's text reaches the observer.
        #expect(!String(describing: record).contains("918273"))
    }

    @Test("A send outliving its budget: finished twice, the second the late final")
    func lateFinalObserved() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let (coordinator, observer) = try observedCoordinator(world)
        let background = Task { await coordinator.run() }
        defer { background.cancel() }
        // The budget has to end while the 2 s RCPT reply is pending, and no sooner: 1.5 s
        // leaves the steps before RCPT (DNS, connect, EHLO, MAIL; milliseconds alone, up to
        // a second under a loaded parallel run) their time and ends well before the reply.
        let outcome = await coordinator.send(try welcome("slow@ok.test"), budget: .milliseconds(1500))
        #expect(outcome.reason == .budgetExceeded, "\(outcome)")
        #expect(await waitUntil { observer.record.finished.count == 2 })
        let late = try #require(observer.record.finished.last)
        #expect(late.isLateFinal)
        #expect(late.outcome.status == .accepted)
        #expect(late.outcome.messageID == outcome.messageID)
    }

    @Test("QueueActivity keeps the recipient's domain, never the body or the sender")
    func activityHasNoMessage() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let entry = QueueEntry(
            from: "noreply@app.test", to: "jane@example.test", data: Array("code 424242".utf8),
            messageID: "<m@app.test>", createdAt: now.addingTimeInterval(-90),
            nextAttemptAt: now.addingTimeInterval(300), attempts: 3, lastReason: "no-reachable-host")
        let retry = QueueActivity(.retryScheduled(entry, at: now, reason: "temporary-failure"), now: now)
        #expect(retry.kind == .retryScheduled)
        #expect(retry.recipientDomain == "example.test")
        #expect(retry.attempts == 3)
        #expect(retry.reason == "temporary-failure")
        #expect(retry.nextAttemptAt == now)
        #expect(retry.age == .seconds(90))
        #expect(!String(describing: retry).contains("424242"))
        #expect(!String(describing: retry).contains("noreply"))
        let failure = QueueActivity(.storeFailed(entryID: "", message: "disk full"), now: now)
        #expect(failure.kind == .storeFailed && failure.detail == "disk full" && failure.messageID == nil)
        #expect(QueueActivity(.expired(entry), now: now).reason == "expired")
    }

    @Test("Stopping the queue while a store call is in flight reports no store failure")
    func cancelledStoreCallIsNoFailure() async throws {
        let observer = RecordingObserver()
        let store = SlowStore()
        let queue = DeliveryQueue(store: store, clock: ManualQueueClock(), observer: observer)
        let runner = Task { await queue.run { _ in .delivered } }
        #expect(await waitUntil { store.calls > 0 })
        runner.cancel()
        await runner.value
        #expect(observer.record.queue.isEmpty, "\(observer.record.queue)")
    }

    private func observedCoordinator(_ world: MockWorld) throws
        -> (VerificationCoordinator, RecordingObserver)
    {
        let observer = RecordingObserver()
        var configuration = world.configuration()
        configuration.observer = observer
        return (try VerificationCoordinator(configuration: configuration), observer)
    }

    private func waitUntil(
        within limit: Duration = .seconds(10), _ condition: @Sendable () -> Bool
    ) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while !condition(), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }
}

/// An empty store whose every call takes 10 s, or throws `CancellationError` when its task
/// is cancelled first (as a database client's call does).
final class SlowStore: QueueStore {
    private let count = Lock(0)
    var calls: Int { count.withLock { $0 } }

    private func slowly<T>(_ value: T) async throws -> T {
        count.withLock { $0 += 1 }
        try await Task.sleep(for: .seconds(10))
        return value
    }

    func enqueue(_ entry: QueueEntry) async throws { try await slowly(()) }
    func enqueueLeased(_ entry: QueueEntry, leaseFor: Duration, now: Date) async throws
        -> QueueLease
    { throw CancellationError() }
    func claimDue(now: Date, limit: Int, leaseFor: Duration) async throws -> [ClaimedEntry] {
        try await slowly([])
    }
    func renew(_ lease: QueueLease, leaseFor: Duration, now: Date) async throws -> QueueLease {
        try await slowly(lease)
    }
    func complete(_ lease: QueueLease) async throws { try await slowly(()) }
    func reschedule(_ lease: QueueLease, attempts: Int, nextAttemptAt: Date, lastReason: String?)
        async throws
    { try await slowly(()) }
    func giveUp(_ lease: QueueLease, reason: String) async throws { try await slowly(()) }
    func purge(createdBefore cutoff: Date, now: Date) async throws -> [QueueEntry] {
        try await slowly([])
    }
    func list() async throws -> [QueueEntry] { try await slowly([]) }
}
