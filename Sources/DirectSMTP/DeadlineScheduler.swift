import Synchronization

/// Every call's budget deadline in one min-heap, served by a single sleeping task, so a
/// call costs a heap insertion instead of a task and a timer of its own. Cancelled
/// deadlines are dropped lazily when they reach the top.
///
/// The sleeper uses a 1 ms tolerance: without one, the timer may fire up to a tenth of
/// its interval late, and a budget is a promise.
final class DeadlineScheduler: Sendable {
    /// The scheduler every coordinator shares.
    static let shared = DeadlineScheduler()

    private struct Entry {
        var deadline: ContinuousClock.Instant
        var id: UInt64
    }

    private struct State {
        var heap: [Entry] = []
        var actions: [UInt64: @Sendable () -> Void] = [:]
        var nextID: UInt64 = 0
        /// The generation of the running sleeper and the deadline it sleeps toward.
        var sleeper: (generation: UInt64, task: Task<Void, Never>, until: ContinuousClock.Instant)?
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Runs `action` at `deadline` (on the scheduler's task) unless cancelled first.
    /// - Returns: the id to ``cancel(_:)`` it with.
    func schedule(at deadline: ContinuousClock.Instant, _ action: @escaping @Sendable () -> Void)
        -> UInt64
    {
        let (id, stale) = state.withLock { state -> (UInt64, Task<Void, Never>?) in
            state.nextID += 1
            let id = state.nextID
            state.actions[id] = action
            push(Entry(deadline: deadline, id: id), into: &state.heap)
            if let sleeper = state.sleeper, sleeper.until <= deadline { return (id, nil) }
            // No sleeper, or one sleeping past this deadline: start a fresh one.
            let old = state.sleeper?.task
            state.generation += 1
            let generation = state.generation
            let task = Task(priority: .high) { await self.run(generation: generation) }
            state.sleeper = (generation, task, deadline)
            return (id, old)
        }
        stale?.cancel()
        return id
    }

    /// Forgets `id`'s action; harmless if it already ran.
    func cancel(_ id: UInt64) {
        _ = state.withLock { $0.actions.removeValue(forKey: id) }
    }

    /// Deadlines waiting (cancelled ones not yet dropped included); for tests.
    var pendingCount: Int { state.withLock { $0.actions.count } }

    private func run(generation: UInt64) async {
        while true {
            let next: ContinuousClock.Instant? = state.withLock { state in
                guard state.sleeper?.generation == generation else { return nil }
                while let top = state.heap.first, state.actions[top.id] == nil {
                    _ = pop(from: &state.heap)
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
            let due: [@Sendable () -> Void] = state.withLock { state in
                let now = ContinuousClock.now
                var due: [@Sendable () -> Void] = []
                while let top = state.heap.first, top.deadline <= now {
                    _ = pop(from: &state.heap)
                    if let action = state.actions.removeValue(forKey: top.id) { due.append(action) }
                }
                return due
            }
            for action in due { action() }
        }
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

    private func pop(from heap: inout [Entry]) -> Entry? {
        guard !heap.isEmpty else { return nil }
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
