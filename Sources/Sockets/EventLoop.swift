import CSystemShims
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Which readiness a waiter is waiting for.
enum Interest: Sendable {
    case read
    case write
}

/// How a wait ended.
enum WaitResult: Sendable {
    case ready
    case timedOut
    case cancelled
    case closed
    case busy
    case shutdown
}

/// One epoll instance served by one dedicated thread.
///
/// Sockets register once, edge-triggered, for both directions. An operation first tries
/// its system call and suspends only on `EAGAIN`; to never lose an edge that arrives
/// between that `EAGAIN` and the suspension, every registration counts the edges it has
/// seen per direction (`Registration`), and a waiter that observed an older count is
/// resumed at once instead of being stored. Deadlines live in a timer heap that feeds the
/// `epoll_wait` timeout: no task sleeps per operation. The thread never runs user code; it
/// only resumes continuations, which hop back onto Swift's cooperative pool.
public final class EventLoop: Sendable {
    /// The process-wide loop that sockets use unless given another.
    public static let shared = EventLoop()

    private struct Waiter {
        var id: UInt64
        var continuation: UnsafeContinuation<WaitResult, Never>
    }

    private struct Slot {
        var registration: Registration
        var reader: Waiter?
        var writer: Waiter?
    }

    private struct State {
        var slots: [UInt64: Slot] = [:]
        var timers = TimerHeap()
        /// The actions of scheduled timers not yet fired nor cancelled.
        var actions = TimerActions()
        /// The deadline the loop thread sleeps toward (in `timers` ticks); `nil` when awake
        /// or sleeping forever.
        var sleepingUntil: Int64?
        var sleepingForever = false
        var isShutdown = false
        /// Jobs of tasks that prefer this loop as their executor, run between polls.
        var jobs: [UnownedJob] = []

        /// Takes every deadline passed at `now`: socket waiters to resume as timed out,
        /// timer actions to run (both outside the lock).
        mutating func takeDue(
            at now: Int64,
            ready: inout [(UnsafeContinuation<WaitResult, Never>, WaitResult)],
            actions due: inout [@Sendable () -> Void]
        ) {
            while let first = timers.first, first.deadline <= now {
                _ = timers.popFirst()
                if case .timer(let slot) = first.target {
                    if let action = actions.remove(id: first.waiterID, slot: slot) {
                        due.append(action)
                    }
                    continue
                }
                guard case .waiter(let registrationID, let interest) = first.target else {
                    continue
                }
                guard var slot = slots[registrationID] else { continue }
                switch interest {
                case .read:
                    guard let reader = slot.reader, reader.id == first.waiterID else { continue }
                    ready.append((reader.continuation, .timedOut))
                    slot.reader = nil
                case .write:
                    guard let writer = slot.writer, writer.id == first.waiterID else { continue }
                    ready.append((writer.continuation, .timedOut))
                    slot.writer = nil
                }
                slots[registrationID] = slot
            }
        }

        /// Adds a deadline; `true` when the loop thread sleeps past it and must be woken.
        mutating func push(_ entry: TimerHeap.Entry) -> Bool {
            timers.push(entry)
            if sleepingForever {
                sleepingForever = false
                return true
            }
            if let until = sleepingUntil, entry.deadline < until {
                sleepingUntil = entry.deadline
                return true
            }
            return false
        }
    }

    private let epollFD: Int32
    private let wakeFD: Int32
    private let startupError: SocketError?
    private let state = Lock(State())
    private let nextID = Atomic<UInt64>(1)
    /// The loop thread's `pthread_self()`, so `enqueue` knows when no wake-up is needed.
    private let loopThread = Atomic<UInt>(0)

    /// Starts a loop and its thread. If the kernel refuses an epoll instance or an eventfd
    /// (file descriptors exhausted), the loop is created dead and every operation on it
    /// throws that error, so a process never crashes for it.
    public init() {
        let epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        let wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        var error: SocketError?
        if epollFD < 0 || wakeFD < 0 {
            error = .system(Glibc.errno, "creating the event loop")
        } else {
            var event = directsmtp_epoll_event_make(EPOLLIN.rawValue, 0)
            if epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event) != 0 {
                error = .system(Glibc.errno, "registering the event loop's eventfd")
            }
        }
        self.epollFD = epollFD
        self.wakeFD = wakeFD
        self.startupError = error
        if error != nil {
            if epollFD >= 0 { Glibc.close(epollFD) }
            if wakeFD >= 0 { Glibc.close(wakeFD) }
            state.withLock { $0.isShutdown = true }
            return
        }
        // A plain pthread, not a Foundation Thread: this module needs nothing but Glibc.
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { context in
            let loop = Unmanaged<EventLoop>.fromOpaque(context!).takeRetainedValue()
            loop.run()
            return nil
        }, context)
        if started == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<EventLoop>.fromOpaque(context).release()
            state.withLock { $0.isShutdown = true }
        }
    }

    deinit {
        // The thread holds a strong reference while it runs, so it has exited by now.
        if startupError == nil {
            Glibc.close(epollFD)
            Glibc.close(wakeFD)
        }
    }

    /// Stops the loop: every suspended operation fails with `SocketError/Code/loopShutdown`
    /// and later operations fail the same way. Sockets must still be closed by their owners.
    public func shutdown() {
        let (waiters, actions): ([Waiter], [@Sendable () -> Void]) = state.withLock { state in
            guard !state.isShutdown else { return ([], []) }
            state.isShutdown = true
            var all: [Waiter] = []
            for (id, slot) in state.slots {
                if let reader = slot.reader { all.append(reader) }
                if let writer = slot.writer { all.append(writer) }
                state.slots[id]?.reader = nil
                state.slots[id]?.writer = nil
            }
            return (all, state.actions.removeAll())
        }
        wake()
        for waiter in waiters { waiter.continuation.resume(returning: .shutdown) }
        // Timers end early rather than never: whoever waits on one (a budget) gets its
        // answer now.
        Self.runElsewhere(actions)
    }

    /// Runs timer actions on Swift's global executor: the loop thread is gone.
    private static func runElsewhere(_ actions: [@Sendable () -> Void]) {
        guard !actions.isEmpty else { return }
        Task.detached { for action in actions { action() } }
    }

    // MARK: Registration

    /// Registers `fd` edge-triggered for both directions.
    func register(fd: Int32) throws(SocketError) -> Registration {
        if let startupError { throw startupError }
        let registration = Registration(id: nextID.add(1, ordering: .relaxed).oldValue, fd: fd)
        let refused: Bool = state.withLock { state in
            guard !state.isShutdown else { return true }
            state.slots[registration.id] = Slot(registration: registration)
            return false
        }
        if refused { throw SocketError(.loopShutdown, "the event loop was shut down") }
        let events = EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
        var event = directsmtp_epoll_event_make(events, registration.id)
        if epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) != 0 {
            let error = SocketError.system(Glibc.errno, "registering a socket with epoll")
            _ = state.withLock { $0.slots.removeValue(forKey: registration.id) }
            throw error
        }
        return registration
    }

    /// Removes the registration from epoll (before its fd is closed) and fails its waiters
    /// with `.closed`.
    func deregister(_ registration: Registration) {
        let slot = state.withLock { $0.slots.removeValue(forKey: registration.id) }
        if startupError == nil {
            var event = directsmtp_epoll_event_make(0, 0)
            _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, registration.fd, &event)
        }
        slot?.reader?.continuation.resume(returning: .closed)
        slot?.writer?.continuation.resume(returning: .closed)
    }

    // MARK: Waiting

    /// Suspends until `interest` is ready on `registration`, the deadline passes, the task
    /// is cancelled, or the socket is closed. `seen` is the edge count read before the
    /// system call that returned `EAGAIN`; if an edge arrived since, this returns at once.
    nonisolated(nonsending) func wait(
        for interest: Interest,
        on registration: Registration,
        seen: UInt64,
        deadline: ContinuousClock.Instant?
    ) async -> WaitResult {
        let waiterID = nextID.add(1, ordering: .relaxed).oldValue
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<WaitResult, Never>) in
                var mustWake = false
                let immediate: WaitResult? = state.withLock { state in
                    if state.isShutdown { return .shutdown }
                    guard var slot = state.slots[registration.id] else { return .closed }
                    if registration.edges(interest) != seen { return .ready }
                    // Checked under the lock the cancellation handler also takes: either
                    // the flag is seen here, or the handler finds the stored waiter.
                    if Task.isCancelled { return .cancelled }
                    let waiter = Waiter(id: waiterID, continuation: continuation)
                    switch interest {
                    case .read:
                        guard slot.reader == nil else { return .busy }
                        slot.reader = waiter
                    case .write:
                        guard slot.writer == nil else { return .busy }
                        slot.writer = waiter
                    }
                    state.slots[registration.id] = slot
                    if let deadline {
                        let ticks = state.timers.ticks(deadline, roundingUp: true)
                        mustWake = state.push(.init(
                            deadline: ticks, waiterID: waiterID,
                            target: .waiter(registrationID: registration.id, interest: interest)))
                    }
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
                if mustWake { wake() }
            }
        } onCancel: {
            let waiter: Waiter? = state.withLock { state in
                guard var slot = state.slots[registration.id] else { return nil }
                var taken: Waiter?
                switch interest {
                case .read:
                    if slot.reader?.id == waiterID { taken = slot.reader; slot.reader = nil }
                case .write:
                    if slot.writer?.id == waiterID { taken = slot.writer; slot.writer = nil }
                }
                if taken != nil { state.slots[registration.id] = slot }
                return taken
            }
            waiter?.continuation.resume(returning: .cancelled)
        }
    }

    // MARK: Timers

    /// Runs `action` on the loop's thread at `deadline`, unless ``cancel(_:)`` comes
    /// first: the one timer facility of the library (budgets, the race's stagger, DNS
    /// deadlines). The action must be short and must not block: it runs between polls,
    /// typically to resume a continuation or feed a state machine. On a loop that is shut
    /// down the action runs at once, on Swift's global executor (a deadline that cannot be
    /// kept ends early rather than never).
    @discardableResult
    public func schedule(
        at deadline: ContinuousClock.Instant, _ action: @escaping @Sendable () -> Void
    ) -> ScheduledTimer {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        let scheduled: (UInt32, Bool)? = state.withLock { state in
            guard !state.isShutdown else { return nil }
            let slot = state.actions.insert(action, id: id)
            let ticks = state.timers.ticks(deadline, roundingUp: true)
            let entry = TimerHeap.Entry(deadline: ticks, waiterID: id, target: .timer(slot: slot))
            let mustWake = state.push(entry)
            return (slot, mustWake)
        }
        guard let (slot, mustWake) = scheduled else {
            Self.runElsewhere([action])
            return ScheduledTimer(id: id, slot: .max)
        }
        if mustWake { wake() }
        return ScheduledTimer(id: id, slot: slot)
    }

    /// Forgets a scheduled timer: its action will not run (harmless once it has run).
    /// The action is released here, outside the loop's lock.
    public func cancel(_ timer: ScheduledTimer) {
        let taken = state.withLock { state in
            TimerActions.Taken(action: state.actions.remove(id: timer.id, slot: timer.slot))
        }
        _ = taken
    }

    /// Suspends until `deadline` (a timer of this loop), or until the task is cancelled.
    public nonisolated(nonsending) func sleep(until deadline: ContinuousClock.Instant) async {
        let sleeper = Sleeper()
        await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                guard sleeper.store(continuation) else {
                    continuation.resume()
                    return
                }
                let timer = schedule(at: deadline) { sleeper.wake() }
                if !sleeper.arm(timer) { cancel(timer) }
            }
        } onCancel: {
            if let timer = sleeper.wake() { cancel(timer) }
        }
    }

    /// Fires the timers due now, between jobs (see `run`).
    private func fireDueTimers(
        _ ready: inout [(UnsafeContinuation<WaitResult, Never>, WaitResult)],
        _ due: inout [@Sendable () -> Void]
    ) {
        let now = ContinuousClock.now
        state.withLock { state in
            let ticks = state.timers.ticks(now, roundingUp: false)
            guard let first = state.timers.first, first.deadline <= ticks else { return }
            state.takeDue(at: ticks, ready: &ready, actions: &due)
        }
        for (continuation, result) in ready { continuation.resume(returning: result) }
        ready.removeAll(keepingCapacity: true)
        for action in due { action() }
        due.removeAll(keepingCapacity: true)
    }

    private func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    // MARK: The loop thread

    private func run() {
        let capacity = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        // The epoll fd and the eventfd are closed in deinit, not here: sockets may still
        // deregister after a shutdown, and their fd numbers must not be reused meanwhile.
        defer { events.deallocate() }
        var ready: [(UnsafeContinuation<WaitResult, Never>, WaitResult)] = []
        ready.reserveCapacity(capacity)
        var due: [@Sendable () -> Void] = []
        loopThread.store(UInt(pthread_self()), ordering: .sequentiallyConsistent)
        let executor = asUnownedTaskExecutor()
        var jobs: [UnownedJob] = []
        while true {
            // Tasks that chose this loop as their executor run here, between polls.
            state.withLock { swap(&jobs, &$0.jobs) }
            for (index, job) in jobs.enumerated() {
                job.runSynchronously(on: executor)
                // Deadlines come before bulk work: a long batch of jobs (a thousand
                // attempts unwinding at once) must not hold back a budget that ends now.
                if index % 32 == 31 { fireDueTimers(&ready, &due) }
            }
            jobs.removeAll(keepingCapacity: true)
            // In nanoseconds: a deadline is kept to the kernel's timer slack, not rounded
            // up to the next millisecond as epoll_wait's timeout would (a budget's answer
            // came up to 1 ms late for it).
            let timeout: Int64? = state.withLock { state in
                if state.isShutdown { return nil }
                if !state.jobs.isEmpty { return 0 }
                guard let first = state.timers.first else {
                    state.sleepingForever = true
                    return -1
                }
                state.sleepingUntil = first.deadline
                // Ticks are clamped and now is past the origin, so this cannot overflow.
                return max(0, first.deadline - state.timers.ticks(.now, roundingUp: false))
            }
            guard let timeout else {
                // Shut down: whatever still wants this loop runs on the global executor.
                let orphans = state.withLock { state in
                    defer { state.jobs.removeAll() }
                    return state.jobs
                }
                for job in orphans { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
                return
            }
            let count = directsmtp_epoll_wait_ns(epollFD, events, Int32(capacity), timeout)
            let now = ContinuousClock.now
            var wokenByEventFD = false
            state.withLock { state in
                let ticks = state.timers.ticks(now, roundingUp: false)
                state.sleepingUntil = nil
                state.sleepingForever = false
                if count > 0 {
                    for index in 0..<Int(count) {
                        let flags = directsmtp_epoll_event_events(events + index)
                        let id = directsmtp_epoll_event_data(events + index)
                        if id == 0 { wokenByEventFD = true }
                        guard id != 0, var slot = state.slots[id] else { continue }
                        let failure = EPOLLHUP.rawValue | EPOLLERR.rawValue
                        if flags & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | failure) != 0 {
                            // RDHUP (a close) or ERR (a reset), not a plain HUP: a socket not
                            // yet connected reports HUP at once, and its peer hung up nothing.
                            if flags & (EPOLLRDHUP.rawValue | EPOLLERR.rawValue) != 0 {
                                // Before the edge: whoever sees the edge sees this too.
                                slot.registration.peerHungUp.store(true, ordering: .sequentiallyConsistent)
                            }
                            slot.registration.readEdges.add(1, ordering: .sequentiallyConsistent)
                            if let reader = slot.reader {
                                ready.append((reader.continuation, .ready))
                                slot.reader = nil
                            }
                        }
                        if flags & (EPOLLOUT.rawValue | failure) != 0 {
                            slot.registration.writeEdges.add(1, ordering: .sequentiallyConsistent)
                            if let writer = slot.writer {
                                ready.append((writer.continuation, .ready))
                                slot.writer = nil
                            }
                        }
                        state.slots[id] = slot
                    }
                }
                state.takeDue(at: ticks, ready: &ready, actions: &due)
                // Waiters that finished early leave their timers behind; drop them once
                // they dominate, so the heap stays proportional to real waiters.
                if state.timers.count > 1024,
                    state.timers.count > 8 * (state.slots.count + state.actions.count)
                {
                    let slots = state.slots
                    let actions = state.actions
                    state.timers.compact { entry in
                        if case .timer(let slot) = entry.target {
                            return actions.contains(id: entry.waiterID, slot: slot)
                        }
                        guard case .waiter(let registrationID, let interest) = entry.target else {
                            return false
                        }
                        guard let slot = slots[registrationID] else { return false }
                        switch interest {
                        case .read: return slot.reader?.id == entry.waiterID
                        case .write: return slot.writer?.id == entry.waiterID
                        }
                    }
                }
            }
            for (continuation, result) in ready { continuation.resume(returning: result) }
            ready.removeAll(keepingCapacity: true)
            for action in due { action() }
            due.removeAll(keepingCapacity: true)
            if wokenByEventFD {
                var value: UInt64 = 0
                _ = Glibc.read(wakeFD, &value, 8)
            }
        }
    }
}

/// One ``EventLoop/sleep(until:)``: resumed once, by its timer or its cancellation,
/// whichever comes first.
private final class Sleeper: Sendable {
    private struct State {
        var continuation: UnsafeContinuation<Void, Never>?
        var timer: ScheduledTimer?
        var woken = false
    }

    private let state = Lock(State())

    /// Keeps the continuation; `false` when already woken (cancelled first).
    func store(_ continuation: UnsafeContinuation<Void, Never>) -> Bool {
        state.withLock { state in
            if state.woken { return false }
            state.continuation = continuation
            return true
        }
    }

    /// Keeps the timer to cancel; `false` when already woken.
    func arm(_ timer: ScheduledTimer) -> Bool {
        state.withLock { state in
            if state.woken { return false }
            state.timer = timer
            return true
        }
    }

    /// Resumes the sleeper (once); returns its timer, to cancel.
    @discardableResult
    func wake() -> ScheduledTimer? {
        let (continuation, timer) = state.withLock { state in
            state.woken = true
            defer {
                state.continuation = nil
                state.timer = nil
            }
            return (state.continuation, state.timer)
        }
        continuation?.resume()
        return timer
    }
}

/// A timer scheduled with ``EventLoop/schedule(at:_:)``, to cancel with
/// ``EventLoop/cancel(_:)``.
public struct ScheduledTimer: Sendable, Hashable {
    /// Unique among the loop's timers and waiters; never reused.
    let id: UInt64
    /// Where the loop keeps the action (see ``TimerActions``); reused once the timer ends.
    let slot: UInt32
}

/// A socket's membership in an ``EventLoop``: its id (never reused, unlike fd numbers)
/// and the count of readiness edges seen per direction.
final class Registration: Sendable {
    let id: UInt64
    let fd: Int32
    let readEdges = Atomic<UInt64>(0)
    let writeEdges = Atomic<UInt64>(0)
    /// The peer closed its side (or the socket failed): the end of stream, or the error,
    /// waits behind whatever data came with it, and no further edge will announce it.
    let peerHungUp = Atomic<Bool>(false)
    /// The edge count seen before the last attempt that returned EAGAIN, per direction.
    private let readDrainedAt = Atomic<UInt64>(.max)
    private let writeDrainedAt = Atomic<UInt64>(.max)

    init(id: UInt64, fd: Int32) {
        self.id = id
        self.fd = fd
    }

    func drainedAt(_ interest: Interest) -> UInt64 {
        switch interest {
        case .read: readDrainedAt.load(ordering: .relaxed)
        case .write: writeDrainedAt.load(ordering: .relaxed)
        }
    }

    func markDrained(_ interest: Interest, at edges: UInt64) {
        switch interest {
        case .read: readDrainedAt.store(edges, ordering: .relaxed)
        case .write: writeDrainedAt.store(edges, ordering: .relaxed)
        }
    }

    func edges(_ interest: Interest) -> UInt64 {
        switch interest {
        case .read: readEdges.load(ordering: .sequentiallyConsistent)
        case .write: writeEdges.load(ordering: .sequentiallyConsistent)
        }
    }
}

/// The loop is also a `TaskExecutor`: a task that prefers it runs on the loop thread, so
/// a resumed continuation needs no hop to another thread and no wake-up. This is how a
/// server built on the loop (the benchmarks, the mock servers) avoids cross-thread
/// traffic; by default tasks run on Swift's global executor as usual.
///
/// ```swift
/// await withTaskExecutorPreference(EventLoop.shared) {
///     // child tasks and default actors called from here run on the loop thread
/// }
/// ```
extension EventLoop: TaskExecutor {
    /// Runs `job` on the loop thread: at once when called from it, else through the loop's
    /// queue and its wake-up.
    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        let onLoopThread = loopThread.load(ordering: .relaxed) == UInt(pthread_self())
        let (accepted, mustWake) = state.withLock { state -> (Bool, Bool) in
            guard !state.isShutdown else { return (false, false) }
            state.jobs.append(unowned)
            guard !onLoopThread, state.sleepingForever || state.sleepingUntil != nil else { return (true, false) }
            state.sleepingForever = false
            state.sleepingUntil = nil
            return (true, true)
        }
        if !accepted { globalConcurrentExecutor.enqueue(ExecutorJob(unowned)) }
        if mustWake { wake() }
    }
}
