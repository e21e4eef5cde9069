import Sockets

/// Fans published values out to every subscriber, each through an `AsyncStream` of its own.
///
/// A single shared `AsyncStream` ends for good when the one task iterating it is
/// cancelled (a `for await` in a request's task, a "first event within N seconds" helper):
/// every later value would be dropped without a word. Here each subscription is its own
/// stream, so a consumer that goes away ends only its own. Values published while nobody
/// subscribes wait in a backlog (the newest `capacity`) for the next subscriber; each
/// subscriber's stream keeps the newest `capacity` values it has not read yet.
final class EventHub<Element: Sendable>: Sendable {
    private struct State {
        var subscribers: [UInt64: AsyncStream<Element>.Continuation] = [:]
        var nextID: UInt64 = 0
        var backlog: [Element] = []
        var finished = false
    }

    /// How many unread values a subscriber's stream, and the backlog, keep.
    let capacity: Int
    private let state = Lock(State())

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// A new stream of the values published from now on, starting with the backlog if no
    /// one subscribed since those were published. Finished at once if the hub is.
    func subscribe() -> AsyncStream<Element> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: Element.self, bufferingPolicy: .bufferingNewest(capacity))
        let id: UInt64? = state.withLock { state in
            if state.finished { return nil }
            state.nextID += 1
            // Nobody can iterate this stream yet, so nothing calls back into the lock.
            for value in state.backlog { continuation.yield(value) }
            state.backlog.removeAll()
            state.subscribers[state.nextID] = continuation
            return state.nextID
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Hands `value` to every subscriber, or to the backlog if there is none.
    func publish(_ value: Element) {
        let subscribers: [AsyncStream<Element>.Continuation] = state.withLock { state in
            if state.finished { return [] }
            if state.subscribers.isEmpty {
                state.backlog.append(value)
                // Trimmed in batches, so a full backlog does not shift on every value.
                if state.backlog.count >= capacity + max(1, capacity / 8) {
                    state.backlog.removeFirst(state.backlog.count - capacity)
                }
                return []
            }
            return Array(state.subscribers.values)
        }
        // Outside the lock: a stream's termination handler takes it.
        for subscriber in subscribers { subscriber.yield(value) }
    }

    /// Values waiting for a subscriber (at most `capacity` once trimmed).
    var backlogCount: Int { state.withLock { min($0.backlog.count, capacity) } }

    /// Streams subscribed now.
    var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Ends every stream; later subscriptions end at once.
    func finish() {
        let subscribers: [AsyncStream<Element>.Continuation] = state.withLock { state in
            state.finished = true
            state.backlog.removeAll()
            defer { state.subscribers.removeAll() }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber.finish() }
    }
}
