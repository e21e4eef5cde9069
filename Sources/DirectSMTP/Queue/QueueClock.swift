import Foundation

/// The clock that drives the queue: what time it is, and a way to wait until a time.
///
/// Production uses ``SystemQueueClock`` (``QueueClock/system``); tests use
/// ``ManualQueueClock`` to run hours of schedule in milliseconds.
public protocol QueueClock: Sendable {
    /// The current time.
    var now: Date { get }
    /// Suspends until `date` has come (returns at once if it already has).
    ///
    /// - Throws: `CancellationError` when the waiting task is cancelled; the runner
    ///   cancels its sleep when a new entry arrives.
    func sleep(until date: Date) async throws
}

/// The wall clock; sleeps with `Task.sleep`, never blocking a thread.
public struct SystemQueueClock: QueueClock {
    /// Creates the wall clock.
    public init() {}

    /// `Date()`.
    public var now: Date { Date() }

    /// Sleeps in slices of at most 10 minutes, re-reading the wall clock after each, so a
    /// clock step (NTP, suspend) delays a retry by at most one slice.
    public func sleep(until date: Date) async throws {
        while true {
            let remaining = date.timeIntervalSince(Date())
            if remaining <= 0 { return }
            let slice = min(remaining, 600)
            try await Task.sleep(for: .milliseconds(Int64((slice * 1000).rounded(.up))))
        }
    }
}

extension QueueClock where Self == SystemQueueClock {
    /// The wall clock.
    public static var system: SystemQueueClock { SystemQueueClock() }
}
