import Foundation
import Synchronization

/// A clock for tests: time stands still until ``advance(by:)`` or ``set(to:)`` moves it, and
/// sleepers whose time has come wake at once; no real sleeping, so a test runs a day of
/// retry schedule in milliseconds.
///
/// ```swift
/// let clock = ManualQueueClock(now: Date(timeIntervalSince1970: 1_700_000_000))
/// let queue = DeliveryQueue(store: InMemoryQueueStore(), clock: clock)
/// clock.advance(by: .seconds(300))   // the first retry is now due
/// try await queue.runDue { _ in .delivered }
/// ```
public final class ManualQueueClock: QueueClock {
    private struct Sleeper {
        var deadline: Date
        var continuation: CheckedContinuation<Void, any Error>?
        var cancelled: Bool
    }

    private struct State {
        var now: Date
        var nextToken = 0
        var sleepers: [Int: Sleeper] = [:]
    }

    private let state: Mutex<State>

    /// Creates a clock standing at `now`.
    public init(now: Date = Date(timeIntervalSince1970: 1_700_000_000)) {
        state = Mutex(State(now: now))
    }

    /// The clock's current time.
    public var now: Date { state.withLock { $0.now } }

    /// How many tasks are sleeping on this clock now (tests use it to wait until a runner
    /// has gone to sleep).
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// Moves the clock forward and wakes every sleeper whose time has come.
    public func advance(by duration: Duration) {
        let parts = duration.components
        let seconds = Double(parts.seconds) + Double(parts.attoseconds) / 1e18
        set(to: now.addingTimeInterval(max(seconds, 0)))
    }

    /// Sets the clock (never backwards) and wakes every sleeper whose time has come.
    public func set(to date: Date) {
        let woken: [CheckedContinuation<Void, any Error>] = state.withLock { state in
            if date > state.now { state.now = date }
            var ready: [CheckedContinuation<Void, any Error>] = []
            for (token, sleeper) in state.sleepers where sleeper.deadline <= state.now {
                if let continuation = sleeper.continuation { ready.append(continuation) }
                state.sleepers[token] = nil
            }
            return ready
        }
        for continuation in woken { continuation.resume() }
    }

    /// Suspends until the clock has been moved to `date` or past it.
    public func sleep(until date: Date) async throws {
        try Task.checkCancellation()
        let token: Int? = state.withLock { state in
            if date <= state.now { return nil }
            let token = state.nextToken
            state.nextToken += 1
            state.sleepers[token] = Sleeper(deadline: date, continuation: nil, cancelled: false)
            return token
        }
        guard let token else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation {
                (continuation: CheckedContinuation<Void, any Error>) in
                // The handshake closes the race between cancellation, the clock moving and
                // the continuation being stored.
                let outcome: Result<Void, any Error>? = state.withLock { state in
                    guard var sleeper = state.sleepers[token] else { return .success(()) }
                    if sleeper.cancelled {
                        state.sleepers[token] = nil
                        return .failure(CancellationError())
                    }
                    sleeper.continuation = continuation
                    state.sleepers[token] = sleeper
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let continuation: CheckedContinuation<Void, any Error>? = state.withLock { state in
                guard var sleeper = state.sleepers[token] else { return nil }
                if let continuation = sleeper.continuation {
                    state.sleepers[token] = nil
                    return continuation
                }
                sleeper.cancelled = true
                state.sleepers[token] = sleeper
                return nil
            }
            continuation?.resume(throwing: CancellationError())
        }
    }
}
