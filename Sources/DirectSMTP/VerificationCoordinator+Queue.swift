import SMTPClient

extension VerificationCoordinator {
    /// Hands deferred sends to `queue` from now on (stored before ``send(_:budget:)``
    /// returns, `queued: true`), and sends whose budget ends inside the transaction too
    /// (held until the transaction's final outcome settles them). Make the queue re-send
    /// through ``redeliver(_:)``:
    ///
    /// ```swift
    /// let queue = DeliveryQueue(store: try await FileJournalQueueStore.open(path: path))
    /// coordinator.attach(queue)
    /// let runner = Task { await queue.run { entry in await coordinator.redeliver(entry) } }
    /// ```
    public func attach(_ queue: DeliveryQueue) {
        let timeouts = configuration.timeouts
        let sinks = QueueSinks(
            deferred: { from, to, data, outcome in
                do {
                    try await queue.enqueueDeferred(
                        from: from.description, to: to.description, data: data.bytes,
                        requires8BitMIME: data.requires8BitMIME,
                        requiresSMTPUTF8: data.requiresSMTPUTF8,
                        messageID: data.messageID, reason: outcome.reason.rawValue)
                    return true
                } catch {
                    return false
                }
            },
            hold: { from, to, data, outcome in
                do {
                    let held = try await queue.hold(
                        from: from.description, to: to.description, data: data.bytes,
                        requires8BitMIME: data.requires8BitMIME,
                        requiresSMTPUTF8: data.requiresSMTPUTF8,
                        messageID: data.messageID, reason: outcome.reason.rawValue,
                        leaseFor: Self.transactionBound(timeouts, messageBytes: data.bytes.count))
                    return { final in
                        let stored = await queue.settle(held, with: RetryOutcome(final))
                        return final.status == .deferred && stored
                    }
                } catch {
                    return nil
                }
            })
        queueSinks.withLock { $0 = sinks }
    }

    /// One re-send of a queued message: re-resolve, race, send, with
    /// ``Configuration/redeliveryBudget``. For ``DeliveryQueue``'s `deliver`.
    ///
    /// Cancellation (of ``DeliveryQueue/run(deliveringWith:)``'s task) ends it at once before a transaction has
    /// started; a transaction already running is waited for (its step timeouts bound it),
    /// because answering "deferred" while it goes on to deliver would send the message twice.
    public func redeliver(_ entry: QueueEntry) async -> RetryOutcome {
        // A stored address no longer valid can never be delivered: rejected, for the side
        // it concerns.
        guard let from = try? EmailAddress(entry.from) else {
            return .rejected(reason: OutcomeReason.senderRejected.rawValue)
        }
        guard let to = try? EmailAddress(entry.to) else {
            return .rejected(reason: OutcomeReason.recipientRejected.rawValue)
        }
        let data = MessageData(
            bytes: entry.data, requires8BitMIME: entry.requires8BitMIME,
            requiresSMTPUTF8: entry.requiresSMTPUTF8, messageID: entry.messageID)
        return RetryOutcome(await resend(from: from, to: to, data: data))
    }
}

extension VerificationCoordinator {
    /// The longest a send's transaction can still run after its call returned
    /// `deferred(budget-exceeded)`, every remaining step at its timeout, for a message of
    /// `messageBytes` encoded bytes: a bound on the wait for its final outcome on
    /// ``events`` (add the queue's own store time when one is attached).
    public func transactionBound(messageBytes: Int) -> Duration {
        Self.transactionBound(configuration.timeouts, messageBytes: messageBytes)
    }

    /// The longest a transaction can still run once MAIL may have been sent: a held
    /// message is not retried before then, even after a restart. Each command's write and
    /// its reply have the step's timeout, and each 64 KiB of the message's write has the
    /// end-of-data timeout, as has the final reply.
    static func transactionBound(_ timeouts: SMTPTimeouts, messageBytes: Int) -> Duration {
        let chunks = messageBytes / (64 * 1024) + 1
        return (timeouts.mail + timeouts.rcpt + timeouts.data) * 2
            + timeouts.endOfData * (chunks + 1)
    }
}

extension RetryOutcome {
    /// A send's outcome as a try of a queued entry.
    init(_ outcome: VerificationOutcome) {
        switch outcome.status {
        case .accepted: self = .delivered
        case .rejected: self = .rejected(reason: outcome.reason.rawValue)
        case .deferred: self = .deferred(reason: outcome.reason.rawValue)
        }
    }
}
