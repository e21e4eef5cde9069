import Sockets

/// A queue store that keeps entries in memory only: for tests, and for applications that
/// accept losing deferred messages on a restart. Follows the ``QueueStore`` contract
/// (duplicate `add` and unknown `update` throw).
public final class InMemoryQueueStore: QueueStore {
    private let entries: Lock<[String: QueueEntry]>

    /// Creates a store holding `entries`.
    public init(_ entries: [QueueEntry] = []) {
        self.entries = Lock(
            Dictionary(entries.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last }))
    }

    /// Every stored entry.
    public func load() async throws -> [QueueEntry] {
        entries.withLock { Array($0.values) }
    }

    /// Stores a new entry.
    public func add(_ entry: QueueEntry) async throws {
        try entries.withLock { (entries) throws(QueueStoreError) in
            guard entries[entry.id] == nil else {
                throw QueueStoreError(
                    .duplicateID, "an entry with id \(entry.id) is already stored")
            }
            entries[entry.id] = entry
        }
    }

    /// Replaces a stored entry.
    public func update(_ entry: QueueEntry) async throws {
        try entries.withLock { (entries) throws(QueueStoreError) in
            guard entries[entry.id] != nil else {
                throw QueueStoreError(.notFound, "no entry with id \(entry.id) is stored")
            }
            entries[entry.id] = entry
        }
    }

    /// Removes an entry; an unknown identifier is ignored.
    public func remove(id: String) async throws {
        _ = entries.withLock { $0.removeValue(forKey: id) }
    }

    /// The number of stored entries.
    public var count: Int { entries.withLock { $0.count } }
}
