import Foundation
import SignupApp
import Synchronization

/// A clock that moves only when told: hours of the period pass in a test in no time.
public final class ManualClock: SignupClock {
    private struct Sleeper {
        var until: Date
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Date
        var sleepers: [UUID: Sleeper] = [:]
    }

    private let state: Mutex<State>

    /// A clock at `now`.
    public init(now: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        state = Mutex(State(now: now))
    }

    public var now: Date { state.withLock { $0.now } }

    /// Moves the clock forward and wakes the sleepers now due.
    public func advance(by duration: Duration) {
        let parts = duration.components
        let due = state.withLock { state in
            state.now = state.now.addingTimeInterval(
                Double(parts.seconds) + Double(parts.attoseconds) / 1e18)
            let now = state.now
            let due = state.sleepers.filter { $0.value.until <= now }
            for id in due.keys { state.sleepers[id] = nil }
            return due.values.map(\.continuation)
        }
        for continuation in due { continuation.resume() }
    }

    public func sleep(until date: Date) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let resumeNow: Bool = state.withLock { state in
                    if state.now >= date || Task.isCancelled { return true }
                    state.sleepers[id] = Sleeper(until: date, continuation: continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }
}
