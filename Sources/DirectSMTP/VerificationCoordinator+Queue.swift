import SMTPClient

extension VerificationCoordinator {
    /// Hands deferred sends to `queue` from now on (stored before ``send(_:budget:)``
    /// returns, `queued: true`). Make the queue re-send through ``redeliver(_:)``:
    ///
    /// ```swift
    /// let queue = DeliveryQueue(store: try await FileJournalQueueStore.open(path: path)) { entry in
    ///     await coordinator.redeliver(entry)
    /// }
    /// coordinator.attach(queue)
    /// await queue.start()
    /// ```
    public func attach(_ queue: DeliveryQueue) {
        deferredSink.withLock { sink in
            sink = { from, to, data, outcome in
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
            }
        }
    }

    /// One re-send of a queued message: re-resolve, race, send, with
    /// ``Configuration/redeliveryBudget``. For ``DeliveryQueue``'s `deliver`.
    ///
    /// Cancellation (``DeliveryQueue/stop()``) ends it at once before a transaction has
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
        let outcome = await resend(from: from, to: to, data: data)
        switch outcome.status {
        case .accepted: return .delivered
        case .rejected: return .rejected(reason: outcome.reason.rawValue)
        case .deferred: return .deferred(reason: outcome.reason.rawValue)
        }
    }
}
