/// A binary min-heap of deadlines, read by the event loop to choose its `epoll_wait`
/// timeout: the time limits of suspended socket waiters and the loop's scheduled timers
/// (``EventLoop/schedule(at:_:)``). Entries whose waiter finished or whose timer was
/// cancelled are left in place and skipped when they surface (or dropped by
/// ``compact(keeping:)``), so completing an operation never has to search the heap.
struct TimerHeap {
    /// What a deadline ends.
    enum Target {
        /// A socket waiter's time limit.
        case waiter(registrationID: UInt64, interest: Interest)
        /// A scheduled timer's action.
        case timer
    }

    struct Entry {
        var deadline: ContinuousClock.Instant
        /// The waiter's or the timer's id.
        var waiterID: UInt64
        var target: Target
    }

    private(set) var entries: [Entry] = []

    var count: Int { entries.count }
    var first: Entry? { entries.first }

    mutating func push(_ entry: Entry) {
        entries.append(entry)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].deadline < entries[parent].deadline else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popFirst() -> Entry? {
        guard !entries.isEmpty else { return nil }
        entries.swapAt(0, entries.count - 1)
        let top = entries.removeLast()
        siftDown(from: 0)
        return top
    }

    /// Drops every entry `isLive` rejects and rebuilds the heap: O(n), run only when stale
    /// entries far outnumber live ones.
    mutating func compact(keeping isLive: (Entry) -> Bool) {
        entries.removeAll { !isLive($0) }
        var index = entries.count / 2
        while index > 0 {
            index -= 1
            siftDown(from: index)
        }
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < entries.count else { return }
            var smallest = left
            let right = left + 1
            if right < entries.count, entries[right].deadline < entries[left].deadline {
                smallest = right
            }
            guard entries[smallest].deadline < entries[parent].deadline else { return }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
