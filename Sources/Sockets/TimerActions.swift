/// The actions of an event loop's scheduled timers, kept in slots of an array that a free
/// list reuses: scheduling and cancelling (once per coordinator call, for its budget) index
/// the array instead of hashing the timer's id into a dictionary.
///
/// A slot remembers the id of the timer that holds it, and ids are never reused, so a
/// stale reference (a timer that already fired or was cancelled, its slot since taken by
/// another) finds nothing: cancelling it is harmless and its heap entry is skipped.
struct TimerActions {
    typealias Action = @Sendable () -> Void

    /// An action taken out under the loop's lock, to release outside it. A struct rather
    /// than the bare closure: a closure returned through `withLock`'s generic result is
    /// wrapped in a reabstraction thunk (an allocation, and a second release), a struct's
    /// field is not.
    struct Taken {
        let action: Action?
    }

    private struct Slot {
        /// The timer holding this slot; 0 when free (timer ids start at 1).
        var timerID: UInt64
        var action: Action?
    }

    private var slots: [Slot] = []
    /// Indices of free slots, reused last-freed first.
    private var free: [UInt32] = []
    /// How many timers are scheduled and neither fired nor cancelled.
    private(set) var count = 0

    /// Keeps `action` for the timer `id`; returns the slot to find it by.
    mutating func insert(_ action: @escaping Action, id: UInt64) -> UInt32 {
        count += 1
        if let index = free.popLast() {
            slots[Int(index)] = Slot(timerID: id, action: action)
            return index
        }
        slots.append(Slot(timerID: id, action: action))
        return UInt32(slots.count - 1)
    }

    /// Takes the action of timer `id` out of `slot` and frees the slot; `nil` when the
    /// timer already fired or was cancelled. The caller releases the action (outside the
    /// loop's lock).
    mutating func remove(id: UInt64, slot: UInt32) -> Action? {
        let index = Int(slot)
        guard index < slots.count, slots[index].timerID == id, id != 0 else { return nil }
        var action: Action?
        swap(&action, &slots[index].action)  // moved out: no retain, no release here
        slots[index].timerID = 0
        free.append(slot)
        count -= 1
        return action
    }

    /// Whether timer `id` is still waiting in `slot`.
    func contains(id: UInt64, slot: UInt32) -> Bool {
        let index = Int(slot)
        return index < slots.count && slots[index].timerID == id && id != 0
    }

    /// Takes every waiting action (the loop is shutting down) and empties the slots.
    mutating func removeAll() -> [Action] {
        let actions = slots.compactMap(\.action)
        slots = []
        free = []
        count = 0
        return actions
    }
}
