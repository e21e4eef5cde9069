import Sockets

/// Told when the slot it asked for is its own.
protocol SlotWaiter: AnyObject, Sendable {
    /// The slot is this waiter's: `true` when it takes it, `false` when it no longer
    /// needs one (its callers left while it waited); the limiter then offers the slot to
    /// the next waiter itself.
    func slotGranted() -> Bool
}

/// At most `limit` attempts at once per destination (recipient domain), like Postfix's
/// `default_destination_concurrency_limit`; the others wait their turn, first come first
/// served. Attempts hold a slot only while somebody waits for them: an attempt whose last
/// caller left withdraws its request or gives its slot back (``AttemptStateMachine``).
final class DestinationLimiter: Sendable {
    private struct Destination {
        var active = 0
        var waiters = WaiterQueue()
    }

    let limit: Int
    private let destinations = Lock<[String: Destination]>([:])

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Takes a slot for `destination` now (`true`), or queues `waiter`, told by
    /// ``SlotWaiter/slotGranted()`` when a slot is its own.
    func request(_ destination: String, for waiter: any SlotWaiter) -> Bool {
        destinations.withLock { destinations in
            // One hash of the destination: the entry is changed in place.
            Self.takeOrQueue(&destinations[destination, default: Destination()], limit, waiter)
        }
    }

    private static func takeOrQueue(
        _ entry: inout Destination, _ limit: Int, _ waiter: any SlotWaiter
    ) -> Bool {
        if entry.active < limit {
            entry.active += 1
            return true
        }
        entry.waiters.append(waiter)
        return false
    }

    /// Withdraws `waiter`'s request, if it still waits.
    func withdraw(_ destination: String, for waiter: any SlotWaiter) {
        destinations.withLock { destinations in
            guard let index = destinations.index(forKey: destination) else { return }
            destinations.values[index].waiters.remove(waiter)
        }
    }

    /// Gives a slot back: to the first waiter that takes it, if any.
    ///
    /// A loop, not a waiter giving the slot back through `release` again: when budgets end
    /// together, thousands of waiters may decline in a row, and one stack frame each would
    /// overflow the loop thread's stack.
    func release(_ destination: String) {
        while let next = handOver(destination) {
            if next.slotGranted() { return }
        }
    }

    /// The first waiter for `destination`, taken off the queue with the slot being given
    /// back; `nil` when none waits (the slot is then free).
    private func handOver(_ destination: String) -> (any SlotWaiter)? {
        destinations.withLock { destinations in
            guard let index = destinations.index(forKey: destination) else { return nil }
            if let first = destinations.values[index].waiters.popFirst() { return first }
            destinations.values[index].active -= 1
            if destinations.values[index].active == 0 {
                destinations.remove(at: index)
            }
            return nil
        }
    }

    /// Attempts holding a slot now for `destination` (for tests).
    func active(_ destination: String) -> Int {
        destinations.withLock { $0[destination]?.active ?? 0 }
    }
}

/// Waiters first come, first served. Taking the first and withdrawing any one are O(1)
/// (amortized): when budgets end together, thousands leave a queue thousands long.
private struct WaiterQueue {
    /// In arrival order from `head` on; a withdrawn waiter leaves a `nil`.
    private var waiters: [(any SlotWaiter)?] = []
    private var head = 0
    /// Where each waiter is in `waiters`.
    private var positions: [ObjectIdentifier: Int] = [:]

    mutating func append(_ waiter: any SlotWaiter) {
        positions[ObjectIdentifier(waiter)] = waiters.count
        waiters.append(waiter)
    }

    mutating func remove(_ waiter: any SlotWaiter) {
        guard let position = positions.removeValue(forKey: ObjectIdentifier(waiter)) else { return }
        waiters[position] = nil
    }

    mutating func popFirst() -> (any SlotWaiter)? {
        while head < waiters.count {
            let first = waiters[head]
            waiters[head] = nil
            head += 1
            if let first {
                positions[ObjectIdentifier(first)] = nil
                compactIfHalfEmpty()
                return first
            }
        }
        self = WaiterQueue()
        return nil
    }

    /// Drops the taken places once they are half the array, so memory follows the queue.
    private mutating func compactIfHalfEmpty() {
        guard head >= 32, head * 2 >= waiters.count else { return }
        waiters.removeFirst(head)
        let taken = head
        positions = positions.mapValues { $0 - taken }
        head = 0
    }
}
