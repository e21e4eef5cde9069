import Synchronization

/// Told when the slot it asked for is its own.
protocol SlotWaiter: AnyObject, Sendable {
    func slotGranted()
}

/// At most `limit` attempts at once per destination (recipient domain), like Postfix's
/// `default_destination_concurrency_limit`; the others wait their turn, first come first
/// served. Attempts hold a slot only while somebody waits for them: an attempt whose last
/// caller left withdraws its request or gives its slot back (``AttemptStateMachine``).
final class DestinationLimiter: Sendable {
    private struct Destination {
        var active = 0
        var waiters: [any SlotWaiter] = []
    }

    let limit: Int
    private let destinations = Mutex<[String: Destination]>([:])

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
            guard let index = destinations.index(forKey: destination),
                let position = destinations.values[index].waiters.firstIndex(where: { $0 === waiter })
            else { return }
            destinations.values[index].waiters.remove(at: position)
        }
    }

    /// Gives a slot back: to the first waiter, if any.
    func release(_ destination: String) {
        let next: (any SlotWaiter)? = destinations.withLock { destinations in
            guard let index = destinations.index(forKey: destination) else { return nil }
            if !destinations.values[index].waiters.isEmpty {
                return destinations.values[index].waiters.removeFirst()
            }
            destinations.values[index].active -= 1
            if destinations.values[index].active == 0 {
                destinations.remove(at: index)
            }
            return nil
        }
        next?.slotGranted()
    }

    /// Attempts holding a slot now for `destination` (for tests).
    func active(_ destination: String) -> Int {
        destinations.withLock { $0[destination]?.active ?? 0 }
    }
}
