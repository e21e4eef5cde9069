/// Which call an observed attempt serves.
public enum AttemptKind: String, Sendable, Hashable, CaseIterable {
    /// ``VerificationCoordinator/send(_:budget:tls:)``.
    case send
    /// ``VerificationCoordinator/probe(_:from:budget:tls:catchAll:)``.
    case probe
    /// A queued message's re-send (``VerificationCoordinator/redeliver(_:)``).
    case redelivery
}

/// An attempt beginning, as a ``DeliveryObserver`` sees it.
public struct AttemptStarted: Sendable, Hashable {
    /// What the attempt is for.
    public var kind: AttemptKind
    /// The recipient's domain (the part after `@`).
    public var recipientDomain: String
    /// The message's Message-ID for sends and re-sends; `nil` for probes.
    public var messageID: String?
    /// The time the call may take.
    public var budget: Duration

    /// An observation from its parts.
    public init(kind: AttemptKind, recipientDomain: String, messageID: String?, budget: Duration) {
        self.kind = kind
        self.recipientDomain = recipientDomain
        self.messageID = messageID
        self.budget = budget
    }
}

/// An attempt ending, as a ``DeliveryObserver`` sees it: the outcome the caller got.
public struct AttemptFinished: Sendable, Hashable {
    /// What the attempt was for.
    public var kind: AttemptKind
    /// The outcome: status, reason, scenario, MX host, timings, the deciding reply.
    public var outcome: VerificationOutcome
    /// `true` for the real outcome of a send whose call had already returned
    /// `deferred(budget-exceeded)`: count it as the transaction's end, not as another send.
    public var isLateFinal: Bool

    /// An observation from its parts.
    public init(kind: AttemptKind, outcome: VerificationOutcome, isLateFinal: Bool = false) {
        self.kind = kind
        self.outcome = outcome
        self.isLateFinal = isLateFinal
    }
}
