import Synchronization

/// What a deadline tells when it passes: the object that scheduled it, with its token.
protocol DeadlineTarget: AnyObject, Sendable {
    /// The deadline scheduled with `token` passed (called on the scheduler's task).
    func deadlinePassed(_ token: UInt64)
}

/// Every call's budget deadline in one min-heap, served by a single sleeping task, so a
/// call costs a heap insertion instead of a task and a timer of its own.
///
/// Nothing is allocated per deadline once the tables have grown: the target is stored in
/// a slot of an array (no closure, no dictionary), and cancelling empties the slot at once
/// (the target is released) while its heap entry stays until it reaches the top; the slot
/// is reused only then, and a generation number keeps a stale handle from touching the
/// slot's next user.
///
/// The sleeper uses a 1 ms tolerance: without one, the timer may fire up to a tenth of
/// its interval late, and a budget is a promise.
final class DeadlineScheduler: Sendable {
    /// The scheduler every coordinator shares.
    static let shared = DeadlineScheduler()

    /// A scheduled deadline, to ``cancel(_:)``.
    struct Handle: Sendable, Hashable {
        fileprivate var slot: Int32
        fileprivate var generation: UInt32
    }

    private struct Entry {
        var deadline: ContinuousClock.Instant
        var slot: Int32
        var generation: UInt32
    }

    private struct Slot {
        var generation: UInt32 = 0
        var target: (any DeadlineTarget)?
        var token: UInt64 = 0
    }

    private struct State {
        var heap: [Entry] = []
        var slots: [Slot] = []
        /// Slots whose heap entry has been popped: free for reuse.
        var free: [Int32] = []
        /// Slots holding a target (scheduled, neither fired nor cancelled).
        var pending = 0
        /// The generation of the running sleeper and the deadline it sleeps toward.
        var sleeper: (generation: UInt64, task: Task<Void, Never>, until: ContinuousClock.Instant)?
        var sleeperGeneration: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Tells `target` at `deadline` (on the scheduler's task), unless cancelled first.
    func schedule(at deadline: ContinuousClock.Instant, _ target: any DeadlineTarget, token: UInt64)
        -> Handle
    {
        let (handle, stale) = state.withLock { state -> (Handle, Task<Void, Never>?) in
            let slot: Int32
            if let reused = state.free.popLast() {
                slot = reused
            } else {
                slot = Int32(state.slots.count)
                state.slots.append(Slot())
            }
            state.slots[Int(slot)].target = target
            state.slots[Int(slot)].token = token
            state.pending += 1
            let generation = state.slots[Int(slot)].generation
            push(Entry(deadline: deadline, slot: slot, generation: generation), into: &state.heap)
            let handle = Handle(slot: slot, generation: generation)
            if let sleeper = state.sleeper, sleeper.until <= deadline { return (handle, nil) }
            // No sleeper, or one sleeping past this deadline: start a fresh one.
            let old = state.sleeper?.task
            state.sleeperGeneration += 1
            let sleeperGeneration = state.sleeperGeneration
            let task = Task(priority: .high) { await self.run(generation: sleeperGeneration) }
            state.sleeper = (sleeperGeneration, task, deadline)
            return (handle, old)
        }
        stale?.cancel()
        return handle
    }

    /// Runs `action` at `deadline` unless cancelled first (allocates a target; for uses
    /// off the hot path).
    func schedule(at deadline: ContinuousClock.Instant, _ action: @escaping @Sendable () -> Void)
        -> Handle
    {
        schedule(at: deadline, ClosureTarget(action), token: 0)
    }

    /// Forgets the deadline and releases its target; harmless if it already fired.
    func cancel(_ handle: Handle) {
        let target: (any DeadlineTarget)? = state.withLock { state in
            let index = Int(handle.slot)
            guard state.slots[index].generation == handle.generation,
                let target = state.slots[index].target
            else { return nil }
            state.slots[index].target = nil
            state.pending -= 1
            return target
        }
        _ = target  // released here, outside the lock: its deinit may take other locks
    }

    /// Deadlines waiting (neither fired nor cancelled); for tests.
    var pendingCount: Int { state.withLock { $0.pending } }

    private func run(generation: UInt64) async {
        while true {
            let next: ContinuousClock.Instant? = state.withLock { state in
                guard state.sleeper?.generation == generation else { return nil }
                // Cancelled entries at the top go now, so the sleeper never wakes for them.
                while let top = state.heap.first, state.slots[Int(top.slot)].target == nil {
                    release(pop(from: &state.heap), in: &state)
                }
                guard let top = state.heap.first else {
                    state.sleeper = nil
                    return nil
                }
                state.sleeper?.until = top.deadline
                return top.deadline
            }
            guard let next else { return }
            do {
                try await Task.sleep(until: next, tolerance: .milliseconds(1), clock: .continuous)
            } catch {
                return  // replaced by a sleeper for an earlier deadline
            }
            let due: [(any DeadlineTarget, UInt64)] = state.withLock { state in
                let now = ContinuousClock.now
                var due: [(any DeadlineTarget, UInt64)] = []
                while let top = state.heap.first, top.deadline <= now {
                    let entry = pop(from: &state.heap)
                    let slot = state.slots[Int(entry.slot)]
                    if let target = slot.target {
                        due.append((target, slot.token))
                        state.pending -= 1
                    }
                    release(entry, in: &state)
                }
                return due
            }
            for (target, token) in due { target.deadlinePassed(token) }
        }
    }

    /// An entry left the heap: its slot is free for the next deadline.
    private func release(_ entry: Entry, in state: inout State) {
        let index = Int(entry.slot)
        state.slots[index].target = nil
        state.slots[index].generation &+= 1
        state.free.append(entry.slot)
    }

    // MARK: Binary heap by deadline

    private func push(_ entry: Entry, into heap: inout [Entry]) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// The earliest entry, removed; the heap must not be empty.
    private func pop(from heap: inout [Entry]) -> Entry {
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { break }
            var smallest = left
            if left + 1 < heap.count, heap[left + 1].deadline < heap[left].deadline {
                smallest = left + 1
            }
            guard heap[smallest].deadline < heap[parent].deadline else { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}

/// A closure as a deadline target.
private final class ClosureTarget: DeadlineTarget {
    let action: @Sendable () -> Void

    init(_ action: @escaping @Sendable () -> Void) {
        self.action = action
    }

    func deadlinePassed(_ token: UInt64) { action() }
}
