/// A binary min-heap of deadlines, read by the event loop to choose its `epoll_wait`
/// timeout: the time limits of suspended socket waiters and the loop's scheduled timers
/// (``EventLoop/schedule(at:_:)``). Entries whose waiter finished or whose timer was
/// cancelled are left in place and skipped when they surface (or dropped by
/// ``compact(keeping:)``), so completing an operation never has to search the heap.
///
/// Deadlines are kept as nanoseconds since the heap's `origin`: `ContinuousClock.Instant`
/// is a resilient type, so every copy and comparison of it is a call through its
/// metadata, and a sift does dozens of them.
struct TimerHeap {
    /// What a deadline ends.
    enum Target {
        /// A socket waiter's time limit.
        case waiter(registrationID: UInt64, interest: Interest)
        /// A scheduled timer's action, kept in `slot` of the loop's ``TimerActions``.
        case timer(slot: UInt32)
    }

    struct Entry {
        /// Nanoseconds since `origin`, rounded up (see ``ticks(_:roundingUp:)``).
        var deadline: Int64
        /// The waiter's or the timer's id.
        var waiterID: UInt64
        var target: Target
    }

    private(set) var entries: [Entry] = []
    let origin = ContinuousClock.now

    /// `instant` as nanoseconds since `origin`: a deadline rounds up and the current time
    /// down, so a deadline is never reached early. Clamped to about ±285 years.
    func ticks(_ instant: ContinuousClock.Instant, roundingUp: Bool) -> Int64 {
        let (seconds, attoseconds) = origin.duration(to: instant).components
        let clamped = min(max(seconds, -9_000_000_000), 9_000_000_000)
        let remainder = attoseconds % 1_000_000_000
        var ticks = clamped * 1_000_000_000 + attoseconds / 1_000_000_000
        if roundingUp, remainder > 0 { ticks += 1 }
        if !roundingUp, remainder < 0 { ticks -= 1 }
        return ticks
    }

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
