import Foundation
import Synchronization

@testable import DirectSMTP

/// A ``DeliveryQueue`` with the re-send its tests use, and a background runner to start
/// and stop: the queue keeps no re-send function of its own (it is a parameter of each
/// run), so the tests keep it here, next to the queue, and call the queue's real API
/// with it.
final class TestQueue: Sendable {
    let queue: DeliveryQueue
    let deliver: DeliveryQueue.Deliver
    private let runner = Mutex<Task<Void, Never>?>(nil)

    init(
        store: any QueueStore, schedule: RetrySchedule = .default,
        clock: any QueueClock = SystemQueueClock(),
        limits: DeliveryQueue.Limits = .init(), leaseDuration: Duration = .seconds(600),
        deliver: @escaping DeliveryQueue.Deliver
    ) {
        queue = DeliveryQueue(
            store: store, schedule: schedule, limits: limits, clock: clock,
            leaseDuration: leaseDuration)
        self.deliver = deliver
    }

    deinit { runner.withLock { $0?.cancel() } }

    var events: AsyncStream<QueueEvent> { queue.events }

    func enqueue(_ entry: QueueEntry) async throws { try await queue.enqueue(entry) }

    @discardableResult
    func enqueueDeferred(
        from: String, to: String, data: [UInt8], messageID: String, reason: String
    ) async throws -> QueueEntry {
        try await queue.enqueueDeferred(
            from: from, to: to, data: data, messageID: messageID, reason: reason)
    }

    func entries() async throws -> [QueueEntry] { try await queue.entries() }

    /// When the runner sleeps until, after a pass now.
    func nextWakeDate() async throws -> Date { try await queue.nextWakeDate() }

    /// A held send (`notBefore`: its transaction's bound, the lease's length).
    func hold(
        from: String, to: String, data: [UInt8], messageID: String, reason: String,
        notBefore: Duration
    ) async throws -> ClaimedEntry {
        try await queue.hold(
            from: from, to: to, data: data, messageID: messageID, reason: reason,
            leaseFor: notBefore)
    }

    @discardableResult
    func settle(_ held: ClaimedEntry, with outcome: RetryOutcome) async -> Bool {
        await queue.settle(held, with: outcome)
    }

    @discardableResult
    func runDue() async throws -> DeliveryQueue.RunSummary {
        try await queue.runDue(deliveringWith: deliver)
    }

    @discardableResult
    func runAll() async throws -> DeliveryQueue.RunSummary {
        try await queue.runAll(deliveringWith: deliver)
    }

    @discardableResult
    func purgeExpired(maxAge: Duration? = nil) async throws -> DeliveryQueue.RunSummary {
        try await queue.purgeExpired(maxAge: maxAge)
    }

    /// Starts `run(deliveringWith:)` in a task of its own (idempotent).
    func start() async {
        runner.withLock { runner in
            guard runner == nil else { return }
            let queue = self.queue
            let deliver = self.deliver
            runner = Task { await queue.run(deliveringWith: deliver) }
        }
    }

    /// Cancels the runner and waits until it has drained and returned.
    func stop() async {
        guard
            let task = runner.withLock({ runner in
                defer { runner = nil }; return runner
            })
        else {
            return
        }
        task.cancel()
        await task.value
    }

    var isRunning: Bool {
        get async { runner.withLock { $0 != nil } }
    }
}
