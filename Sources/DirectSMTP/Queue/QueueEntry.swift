import Foundation

/// One deferred message waiting in the delivery queue: the envelope, the message bytes and
/// the bookkeeping the retry schedule needs.
///
/// The coordinator builds one when a send ends deferred and hands it to
/// ``DeliveryQueue/enqueue(_:)``. Every try is counted in ``attempts``, the original send
/// included, so an entry enqueued right after a deferred send has `attempts == 1`.
///
/// ```swift
/// let now = Date()
/// let entry = QueueEntry(
///     from: "noreply@example.org", to: "new.user@example.com",
///     data: Array(message.utf8), messageID: "<abc@example.org>",
///     createdAt: now, nextAttemptAt: RetrySchedule.default.nextAttempt(afterAttempts: 1, at: now),
///     lastReason: "temporary-failure")
/// ```
public struct QueueEntry: Sendable, Hashable, Codable {
    /// A unique identifier within the queue (by default a random UUID string).
    public var id: String
    /// The envelope sender (`MAIL FROM`), as text.
    public var from: String
    /// The envelope recipient (`RCPT TO`), as text.
    public var to: String
    /// The RFC 5322 message as it goes after `DATA`: CRLF line ends, not dot-stuffed.
    public var data: [UInt8]
    /// The message needs the 8BITMIME extension.
    public var requires8BitMIME: Bool
    /// The message or envelope needs the SMTPUTF8 extension.
    public var requiresSMTPUTF8: Bool
    /// The message's `Message-ID`; a receiver that got the message twice (see the
    /// at-least-once note on ``QueueStore``) can recognise the duplicate by it.
    public var messageID: String
    /// When the message was first tried; ``RetrySchedule/maxAge`` counts from here.
    public var createdAt: Date
    /// When the next try is due.
    public var nextAttemptAt: Date
    /// Every try so far, the original send included; 0 for a send held while its first
    /// transaction still runs (see ``DeliveryQueue/hold(from:to:data:requires8BitMIME:requiresSMTPUTF8:messageID:reason:leaseFor:)``).
    public var attempts: Int
    /// The reason of the last deferral, an ``OutcomeReason`` raw value such as
    /// `"temporary-failure"` or `"no-reachable-host"`.
    public var lastReason: String?

    /// Creates an entry; `id` defaults to a fresh random identifier and `attempts` to 1
    /// (the original send).
    public init(
        id: String = QueueEntry.makeID(),
        from: String,
        to: String,
        data: [UInt8],
        requires8BitMIME: Bool = false,
        requiresSMTPUTF8: Bool = false,
        messageID: String,
        createdAt: Date,
        nextAttemptAt: Date,
        attempts: Int = 1,
        lastReason: String? = nil
    ) {
        self.id = id
        self.from = from
        self.to = to
        self.data = data
        self.requires8BitMIME = requires8BitMIME
        self.requiresSMTPUTF8 = requiresSMTPUTF8
        self.messageID = messageID
        self.createdAt = createdAt
        self.nextAttemptAt = nextAttemptAt
        self.attempts = attempts
        self.lastReason = lastReason
    }

    /// A fresh random identifier (a lower-case UUID).
    public static func makeID() -> String {
        UUID().uuidString.lowercased()
    }

    /// The recipient's domain, lower-cased (the text after the last `@`); the runner's
    /// per-domain limit groups entries by it.
    public var recipientDomain: String {
        guard let at = to.lastIndex(of: "@") else { return to.lowercased() }
        return String(to[to.index(after: at)...]).lowercased()
    }
}
