/// Where the delivery queue keeps its entries: a small protocol so an application can plug
/// its own store (for example a database table shared by several app servers).
///
/// DirectSMTP ships two: ``InMemoryQueueStore`` (tests, nothing survives the process) and
/// ``FileJournalQueueStore`` (the default durable store: an append-only, checksummed
/// journal file, `fsync`ed before a call returns).
///
/// ## Contract
/// - ``add(_:)`` returns only once the entry is durable (as durable as the store can
///   make it): ``DeliveryQueue/enqueue(_:)`` relies on it before a sign-up page says
///   "the code is on its way".
/// - ``add(_:)`` of an identifier already stored throws (code `duplicate-id` for the
///   built-in stores); ``update(_:)`` of an unknown identifier throws (`not-found`);
///   ``remove(id:)`` of an unknown identifier does nothing.
/// - ``load()`` returns every stored entry, in no particular order.
///
/// ## Delivery guarantee: at least once
/// A message is removed from the store only after the server answered 250 to it. If the
/// process dies between that 250 and the removal reaching the disk, the entry is still
/// there after a restart and is sent again: the recipient gets the message twice. Both
/// copies carry the same `Message-ID` (``QueueEntry/messageID``), which is how a duplicate
/// is recognised (mail clients and many servers fold them). No store can do better
/// without the receiving server's help; none loses an acknowledged entry.
public protocol QueueStore: Sendable {
    /// Every stored entry.
    func load() async throws -> [QueueEntry]
    /// Stores a new entry; returns once it is durable.
    func add(_ entry: QueueEntry) async throws
    /// Replaces the stored entry with the same identifier (after a deferred retry).
    func update(_ entry: QueueEntry) async throws
    /// Removes an entry (delivered, rejected or expired).
    func remove(id: String) async throws
}
