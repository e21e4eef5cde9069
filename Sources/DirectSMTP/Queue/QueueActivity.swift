import Foundation

/// A ``QueueEvent`` without the message: what a ``DeliveryObserver`` gets, fit for logs
/// and metrics (no body, no sender address, the recipient by its domain only).
public struct QueueActivity: Sendable, Hashable {
    /// What happened.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// Stored in the queue (deferred, or held while its first transaction runs).
        case enqueued
        /// A re-send was accepted; the message left the queue.
        case delivered
        /// A re-send was refused for good; the message left the queue.
        case rejected
        /// A re-send was deferred again; another is due at ``QueueActivity/nextAttemptAt``.
        case retryScheduled = "retry-scheduled"
        /// Older than the retry schedule's maximum age: purged undelivered.
        case expired
        /// The store failed to record a change (``QueueActivity/detail`` says what).
        case storeFailed = "store-failed"
    }

    /// What happened.
    public var kind: Kind
    /// The queue entry's identifier; empty for a failure of the whole store.
    public var entryID: String
    /// The message's Message-ID; `nil` for store failures.
    public var messageID: String?
    /// The recipient's domain; `nil` for store failures.
    public var recipientDomain: String?
    /// Tries so far, the original send included; `nil` for store failures.
    public var attempts: Int?
    /// The reason string of the deferral or refusal (`temporary-failure`,
    /// `recipient-rejected`, ...); `expired` for expiries.
    public var reason: String?
    /// When the next try is due (enqueued and rescheduled messages).
    public var nextAttemptAt: Date?
    /// How long ago the message was first tried, at the time of the event.
    public var age: Duration?
    /// The store's error message, for ``Kind/storeFailed``.
    public var detail: String?

    /// The activity of `event`, its age measured at `now`.
    public init(_ event: QueueEvent, now: Date) {
        switch event {
        case .enqueued(let entry):
            self.init(kind: .enqueued, entry: entry, reason: entry.lastReason, now: now)
            nextAttemptAt = entry.nextAttemptAt
        case .delivered(let entry):
            self.init(kind: .delivered, entry: entry, reason: nil, now: now)
        case .rejected(let entry, let reason):
            self.init(kind: .rejected, entry: entry, reason: reason, now: now)
        case .retryScheduled(let entry, let at, let reason):
            self.init(kind: .retryScheduled, entry: entry, reason: reason, now: now)
            nextAttemptAt = at
        case .expired(let entry):
            self.init(kind: .expired, entry: entry, reason: "expired", now: now)
        case .storeFailed(let entryID, let message):
            self.init(kind: .storeFailed, entryID: entryID)
            detail = message
        }
    }

    private init(kind: Kind, entry: QueueEntry, reason: String?, now: Date) {
        self.init(kind: kind, entryID: entry.id)
        messageID = entry.messageID
        recipientDomain = entry.to.lastIndex(of: "@").map {
            String(entry.to[entry.to.index(after: $0)...])
        }
        attempts = entry.attempts
        self.reason = reason
        age = .seconds(max(0, now.timeIntervalSince(entry.createdAt)))
    }

    private init(kind: Kind, entryID: String) {
        self.kind = kind
        self.entryID = entryID
    }
}
