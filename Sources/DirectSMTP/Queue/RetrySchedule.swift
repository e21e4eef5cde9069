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
    ///
    /// Total for every input: any attempt count, and fields changed after `init` to values
    /// it would have corrected (a NaN multiplier, a cap below the first gap).
    public func delay(afterAttempts attempts: Int) -> Duration {
        let first = max(firstRetry.queueSeconds, 0)
        let cap = max(maxInterval.queueSeconds, 0)
        let factor = multiplier.isFinite ? max(multiplier, 1) : 1
        var gap = first
        // first * factor^(attempts - 1) in one step: no loop over the attempt count; a
        // result too large for a Double is +infinity, which the cap catches.
        if attempts > 1 && factor > 1 && first > 0 && first < cap {
            gap = first * pow(factor, Double(attempts - 1))
        }
        // 9e15 s (285 million years) keeps the milliseconds inside Int64.
        let seconds = min(gap, cap, 9e15)
        return .milliseconds(Int64((seconds * 1000).rounded()))
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
