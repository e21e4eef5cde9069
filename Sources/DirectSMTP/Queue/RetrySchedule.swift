import Foundation

/// When a deferred entry is tried again, and when it is given up.
///
/// The defaults respect greylisting (postgrey accepts a retry only after 5 minutes) and
/// sit between Postfix's backoff (300 s to 4000 s) and a sign-up code's short useful life:
/// first retry 5 minutes after the deferred send, then each gap doubled (10, 20, 40
/// minutes), capped at 1 hour; the entry is purged with an `expired` event 24 hours after
/// it was created.
///
/// ```swift
/// var schedule = RetrySchedule.default
/// schedule.maxAge = .seconds(3600 * 4)        // a code that is useless after 4 hours
/// schedule.delay(afterAttempts: 1)            // 300 s
/// schedule.delay(afterAttempts: 3)            // 1200 s
/// ```
public struct RetrySchedule: Sendable, Hashable {
    /// The gap between the first (deferred) try and the first retry.
    public var firstRetry: Duration
    /// Each later gap is the previous one times this factor (at least 1).
    public var multiplier: Double
    /// No gap is longer than this.
    public var maxInterval: Duration
    /// An entry older than this (counted from ``QueueEntry/createdAt``) is purged.
    public var maxAge: Duration

    /// Creates a schedule; values below zero count as zero, a multiplier below 1 as 1, and a
    /// cap below the first gap as the first gap.
    public init(
        firstRetry: Duration = .seconds(300),
        multiplier: Double = 2,
        maxInterval: Duration = .seconds(3600),
        maxAge: Duration = .seconds(86_400)
    ) {
        self.firstRetry = max(firstRetry, .zero)
        self.multiplier = multiplier.isFinite ? max(multiplier, 1) : 1
        self.maxInterval = max(maxInterval, self.firstRetry)
        self.maxAge = max(maxAge, .zero)
    }

    /// 5 min, x2, capped at 1 h; purged after 24 h.
    public static let `default` = RetrySchedule()

    /// The gap to wait after an entry's `attempts`-th try failed with a deferral.
    public func delay(afterAttempts attempts: Int) -> Duration {
        let first = firstRetry.queueSeconds
        let cap = maxInterval.queueSeconds
        var gap = first
        var step = 1
        while step < attempts && gap < cap {
            gap *= multiplier
            step += 1
        }
        return .milliseconds(Int64((min(gap, cap) * 1000).rounded()))
    }

    /// When the next try is due, for an entry whose `attempts`-th try was deferred at `date`.
    public func nextAttempt(afterAttempts attempts: Int, at date: Date) -> Date {
        date.addingTimeInterval(delay(afterAttempts: attempts).queueSeconds)
    }

    /// When an entry created at `createdAt` expires.
    public func expiry(of createdAt: Date) -> Date {
        createdAt.addingTimeInterval(maxAge.queueSeconds)
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var queueSeconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
