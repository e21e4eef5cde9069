import Foundation
import Sockets
import Testing

@testable import DirectSMTP

/// Helpers shared by the Queue* test files.
enum QueueTestSupport {
    static let epoch = Date(timeIntervalSince1970: 1_700_000_000)

    static func entry(
        id: String = QueueEntry.makeID(), to: String = "new.user@example.com",
        at date: Date = epoch,
        nextAttemptAt: Date? = nil, body: String = "Subject: your code\r\n\r\n123456\r\n"
    ) -> QueueEntry {
        QueueEntry(
            id: id, from: "noreply@example.org", to: to, data: Array(body.utf8),
            messageID: "<\(id)@test.example.org>", createdAt: date,
            nextAttemptAt: nextAttemptAt ?? date.addingTimeInterval(300), attempts: 1,
            lastReason: "temporary-failure")
    }

    /// A fresh directory under /tmp; `remove()` it when done.
    struct TemporaryDirectory {
        let path: String

        init() throws {
            path = "/tmp/directsmtp-queue-tests-\(getpid())-\(UUID().uuidString.lowercased())"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }

        func file(_ name: String) -> String { "\(path)/\(name)" }

        func remove() { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Polls `condition` every 2 ms until it holds or `timeout` passes.
    static func eventually(
        timeout: Duration = .seconds(5), _ condition: @Sendable () async -> Bool
    ) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return await condition()
    }
}

/// Collects a queue's events as they arrive.
final class EventRecorder: Sendable {
    private final class Box: Sendable {
        let events = Lock<[QueueEvent]>([])
    }

    private let box = Box()
    private let task: Task<Void, Never>

    init(_ stream: AsyncStream<QueueEvent>) {
        let box = self.box
        task = Task {
            for await event in stream { box.events.withLock { $0.append(event) } }
        }
    }

    deinit { task.cancel() }

    var events: [QueueEvent] { box.events.withLock { $0 } }

    /// Waits (bounded) until an event matching `predicate` has arrived.
    func waitFor(
        timeout: Duration = .seconds(5), _ predicate: @escaping @Sendable (QueueEvent) -> Bool
    ) async -> Bool {
        await QueueTestSupport.eventually(timeout: timeout) {
            self.events.contains(where: predicate)
        }
    }
}

/// A fake receiving server with postgrey-style greylisting: the first try of a
/// (sender, recipient) pair gets 450 and is remembered; a try at least `delay` later is
/// accepted. It counts every accepted message.
final class GreylistingServer: Sendable {
    private struct State {
        var firstSeen: [String: Date] = [:]
        var accepted: [String] = []
        var tries = 0
    }

    private let clock: ManualQueueClock
    private let delay: TimeInterval
    private let state = Lock(State())

    init(clock: ManualQueueClock, delay: TimeInterval = 300) {
        self.clock = clock
        self.delay = delay
    }

    func attempt(_ entry: QueueEntry) -> RetryOutcome {
        let now = clock.now
        return state.withLock { state in
            state.tries += 1
            let key = "\(entry.from)|\(entry.to)"
            guard let first = state.firstSeen[key] else {
                state.firstSeen[key] = now
                return .deferred(reason: "temporary-failure")
            }
            guard now.timeIntervalSince(first) >= delay else {
                return .deferred(reason: "temporary-failure")
            }
            state.accepted.append(entry.messageID)
            return .delivered
        }
    }

    var accepted: [String] { state.withLock { $0.accepted } }
    var tries: Int { state.withLock { $0.tries } }
}

/// Counts calls to a fake deliver closure and returns a fixed outcome.
final class CountingDeliverer: Sendable {
    private let calls = Lock(0)
    let outcome: RetryOutcome

    init(_ outcome: RetryOutcome) { self.outcome = outcome }

    func deliver(_ entry: QueueEntry) -> RetryOutcome {
        calls.withLock { $0 += 1 }
        return outcome
    }

    var count: Int { calls.withLock { $0 } }
}
