import Sockets

/// What a deadline tells when it passes: the object that scheduled it, with its token.
protocol DeadlineTarget: AnyObject, Sendable {
    /// The deadline scheduled with `token` passed (called on the scheduler's task).
    func deadlinePassed(_ token: UInt64)
}

/// Every call's budget deadline in one min-heap, served by a single sleeping task, so a
/// call costs a heap insertion instead of a task and a timer of its own.
///
/// The heap holds only live deadlines: each slot knows its place in the heap, so
/// cancelling (what nearly every call does: its attempt finishes first) removes the entry
/// at once in O(log n) of the calls in flight, instead of leaving it for the sleeper to
/// pop seconds later from a heap of every call of the last budget's length. Nothing is
/// allocated per deadline once the tables have grown: the target sits in a reusable slot
/// (no closure, no dictionary), and a generation number keeps a stale handle from
/// touching the slot's next user.
///
/// The sleeper uses a 1 ms tolerance: without one, the timer may fire up to a tenth of
/// its interval late, and a budget is a promise.
final class DeadlineScheduler: Sendable {
    /// The scheduler every coordinator shares.
    static let shared = DeadlineScheduler()

    /// A scheduled deadline, to ``cancel(_:)``.
    struct Handle: Sendable, Hashable {
        fileprivate var slot: Int32
        fileprivate var generation: UInt64
    }

    private struct Slot {
        /// Bumped each time the slot is freed; 64 bits, so it never wraps back to a
        /// generation a stale handle still holds.
        var generation: UInt64 = 0
        var deadline: ContinuousClock.Instant = .now
        var target: (any DeadlineTarget)?
        var token: UInt64 = 0
        /// Where the slot sits in `heap`; -1 when free.
        var heapIndex: Int = -1
    }

    private struct State {
        /// Slot numbers, a binary min-heap by their deadlines.
        var heap: [Int32] = []
        var slots: [Slot] = []
        var free: [Int32] = []
        /// The generation of the running sleeper and the deadline it sleeps toward.
        var sleeper: (generation: UInt64, task: Task<Void, Never>, until: ContinuousClock.Instant)?
        var sleeperGeneration: UInt64 = 0

        func deadline(at index: Int) -> ContinuousClock.Instant {
            slots[Int(heap[index])].deadline
        }

        mutating func swapEntries(_ first: Int, _ second: Int) {
            heap.swapAt(first, second)
            slots[Int(heap[first])].heapIndex = first
            slots[Int(heap[second])].heapIndex = second
        }

        mutating func siftUp(_ index: Int) {
            var child = index
            while child > 0 {
                let parent = (child - 1) / 2
                guard deadline(at: child) < deadline(at: parent) else { break }
                swapEntries(child, parent)
                child = parent
            }
        }

        mutating func siftDown(_ index: Int) {
            var parent = index
            while true {
                let left = 2 * parent + 1
                guard left < heap.count else { break }
                var smallest = left
                if left + 1 < heap.count, deadline(at: left + 1) < deadline(at: left) {
                    smallest = left + 1
                }
                guard deadline(at: smallest) < deadline(at: parent) else { break }
                swapEntries(parent, smallest)
                parent = smallest
            }
        }

        /// Takes `slot` out of the heap and frees it; returns its target.
        mutating func remove(slot: Int32) -> (any DeadlineTarget)? {
            let index = slots[Int(slot)].heapIndex
            let last = heap.count - 1
            if index != last {
                swapEntries(index, last)
            }
            heap.removeLast()
            if index < heap.count {
                siftDown(index)
                siftUp(index)
            }
            let target = slots[Int(slot)].target
            slots[Int(slot)].target = nil
            slots[Int(slot)].heapIndex = -1
            slots[Int(slot)].generation &+= 1
            free.append(slot)
            return target
        }
    }

    private let state = Lock(State())

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
            state.slots[Int(slot)].deadline = deadline
            state.slots[Int(slot)].target = target
            state.slots[Int(slot)].token = token
            state.slots[Int(slot)].heapIndex = state.heap.count
            state.heap.append(slot)
            state.siftUp(state.heap.count - 1)
            let handle = Handle(slot: slot, generation: state.slots[Int(slot)].generation)
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

    /// Forgets the deadline and releases its target; harmless if it already fired. A
    /// target already taken off the heap to be told may still be told just after this
    /// returns (targets are told outside the lock): targets check their token.
    func cancel(_ handle: Handle) {
        let target: (any DeadlineTarget)? = state.withLock { state in
            let index = Int(handle.slot)
            guard state.slots[index].generation == handle.generation,
                state.slots[index].heapIndex >= 0
            else { return nil }
            return state.remove(slot: handle.slot)
        }
        _ = target  // released here, outside the lock: its deinit may take other locks
    }

    /// Deadlines waiting (neither fired nor cancelled); for tests.
    var pendingCount: Int { state.withLock { $0.heap.count } }

    private func run(generation: UInt64) async {
        while true {
            let next: ContinuousClock.Instant? = state.withLock { state in
                guard state.sleeper?.generation == generation else { return nil }
                guard let top = state.heap.first else {
                    state.sleeper = nil
                    return nil
                }
                let deadline = state.slots[Int(top)].deadline
                state.sleeper?.until = deadline
                return deadline
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
                while let top = state.heap.first, state.slots[Int(top)].deadline <= now {
                    let token = state.slots[Int(top)].token
                    if let target = state.remove(slot: top) { due.append((target, token)) }
                }
                return due
            }
            for (target, token) in due { target.deadlinePassed(token) }
        }
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
