import SMTPClient

extension VerificationCoordinator {
    /// Hands deferred sends to `queue` from now on, as a ``Configuration/queueStore``
    /// does: for the `directsmtp` command, whose queue file is its own protocol.
    package func attach(_ queue: DeliveryQueue) {
        attachedQueue.withLock { $0 = queue }
    }

    /// How a send of `data` reaches the attached queue, if one is.
    func queueAccess(from: EmailAddress, to: EmailAddress, data: MessageData) -> QueueAccess? {
        guard let queue else { return nil }
        let notBefore = Self.heldLease(configuration.timeouts, messageBytes: data.bytes.count)
        return QueueAccess(
            enqueue: { outcome in
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
            hold: { outcome in
                do {
                    let held = try await queue.hold(
                        from: from.description, to: to.description, data: data.bytes,
                        requires8BitMIME: data.requires8BitMIME,
                        requiresSMTPUTF8: data.requiresSMTPUTF8,
                        messageID: data.messageID, reason: outcome.reason.rawValue,
                        leaseFor: notBefore)
                    return { final in
                        let stored = await queue.settle(held, with: RetryOutcome(final))
                        return final.status == .deferred && stored
                    }
                } catch {
                    return nil
                }
            })
    }

    /// One re-send of a queued message: re-resolve, race, send, with
    /// ``Configuration/redeliveryBudget``. ``run()`` uses it for the configured queue; a
    /// worker that runs a ``DeliveryQueue`` of its own (for example over a store shared by
    /// several processes) passes it as the queue's deliver function:
    ///
    /// ```swift
    /// await queue.run { entry in await coordinator.redeliver(entry) }
    /// ```
    public func redeliver(_ entry: QueueEntry) async -> RetryOutcome {
        await Self.redeliver(
            entry, engine: engine, budget: configuration.redeliveryBudget,
            observer: configuration.observer)
    }

    /// One re-send of `entry` through `engine`, handing nothing to the queue (the queue
    /// itself decides about a deferral). Cancellation ends it at once before a
    /// transaction has started; a transaction already running is waited for (its step
    /// timeouts bound it), because answering "deferred" while it goes on to deliver would
    /// send the message twice.
    static func redeliver(
        _ entry: QueueEntry, engine: Engine, budget: Duration, observer: (any DeliveryObserver)?
    ) async -> RetryOutcome {
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
        observer?.attemptStarted(
            AttemptStarted(
                kind: .redelivery, recipientDomain: to.domain, messageID: data.messageID,
                budget: budget))
        let outcome = await engine.send(
            AttemptRequest(
                mode: .redelivery, address: to.description, domain: to.domain,
                literalAddress: to.literalAddress,
                messageID: data.messageID, start: .now, budget: budget,
                transaction: { await $0.send(from: from, to: to, data: data) }, patient: true))
        observer?.attemptFinished(AttemptFinished(kind: .redelivery, outcome: outcome))
        return RetryOutcome(outcome)
    }
}

extension VerificationCoordinator {
    /// The longest a transaction can still run once MAIL may have been sent: a held
    /// message is not retried before then, even after a restart. Each command's write and
    /// its reply have the step's timeout, and each 64 KiB of the message's write has the
    /// end-of-data timeout, as has the final reply.
    static func transactionBound(_ timeouts: SMTPTimeouts, messageBytes: Int) -> Duration {
        let chunks = messageBytes / (64 * 1024) + 1
        return (timeouts.mail + timeouts.rcpt + timeouts.data) * 2
            + timeouts.endOfData * (chunks + 1)
    }

    /// How long a held send's lease lasts, and the earliest its entry is retried: the
    /// transaction's bound, then 30 s for the settle that follows it (closing the session,
    /// the hop off the loop, the store's write, which a busy journal may hold up by its
    /// lock patience), so that no worker claims the entry while its outcome is on the way.
    static func heldLease(_ timeouts: SMTPTimeouts, messageBytes: Int) -> Duration {
        transactionBound(timeouts, messageBytes: messageBytes) + .seconds(30)
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
