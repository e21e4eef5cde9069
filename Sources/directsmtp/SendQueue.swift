import DirectSMTP

/// `send --queue PATH`: the durable journal queue a deferred message goes into.
enum SendQueue {
    /// Opens (or creates) the journal at `path` and attaches a queue over it to
    /// `coordinator`; its retries re-send through the coordinator.
    static func attach(path: String, to coordinator: VerificationCoordinator) async throws {
        let store = try await FileJournalQueueStore.open(path: path)
        let queue = DeliveryQueue(store: store) { [coordinator] entry in
            await coordinator.redeliver(entry)
        }
        coordinator.attach(queue)
    }
}
