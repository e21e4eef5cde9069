import Sockets
import Synchronization

/// Long-lived tasks that run the attempts' work (lookup, dials, transaction), so that a
/// call does not create a task of its own.
///
/// An attempt must run outside the caller's task (the caller returns at its budget while a
/// transaction goes on), but a fresh task per call costs its creation and, above all, the
/// task allocator's slabs: an attempt's frames (race, session, socket waits) outgrow the
/// slab inside a new task, so every call paid for mallocs that a reused task keeps. A
/// worker runs one job at a time, then parks until the next; a job finds an idle worker
/// or starts a new one, so jobs never wait for each other.
///
/// Measured (`directsmtp-bench coordinator --target` smtp-sink, instructions counted by
/// callgrind): against a task per attempt, a send makes 6 mallocs of 1-4 KiB instead of
/// 20 (the bare session makes 5), and a probe runs 3.4 % fewer instructions (a send 0.6 %).
///
/// Workers are detached: a job runs at the worker's priority, without the submitter's
/// task-local values (a worker serves many callers; inheriting the first one's values
/// would leak them to the others). They prefer `executor` when one is given: the
/// coordinator passes its event loop, so an attempt's socket waits resume on the loop's
/// own thread instead of waking a thread of the global pool for every reply.
///
/// Package access: the coordinator benchmark's hand-off floor (`--floor`) runs bare
/// sessions on a pool of its own, to measure what answering from outside the work costs.
///
/// Cancelling a job (``Job/cancel()``) cancels its worker's task, the only way to cut
/// short the socket waits inside it; that worker then retires after the job instead of
/// parking, since task cancellation cannot be undone. Cancellation is the rare path (a
/// budget that ended before the transaction), so a new worker now and then is cheap.
package final class WorkerPool: Sendable {
    /// One submitted job: cancel it with ``cancel()``. A value, not an object: the worker
    /// it went to and its number there (a job object and its lock per call cost ~1.5k
    /// instructions of a probe's ~340k, made and freed for a handle rarely used).
    package struct Job: Sendable {
        fileprivate let worker: Worker
        fileprivate let number: UInt64

        /// Cancels the task running this job, if it still is; a job not started yet then
        /// never starts. Harmless once it finished.
        package func cancel() {
            worker.cancel(number)
        }
    }

    /// One long-lived task: its handle, for cancellation, and the job it was handed.
    fileprivate final class Worker: Sendable {
        fileprivate enum Phase {
            /// Handed its job, running or about to; the body until it is taken.
            case assigned(body: (@Sendable () async -> Void)?)
            /// Its job was cancelled while running: the worker retires afterwards.
            case cancelled
            /// Its job is done (or it has none yet); cancelling does nothing.
            case finished
        }

        fileprivate struct State {
            /// Set once, by `submit`, before the first job is handed out, so a job's
            /// `cancel()` always finds it.
            var task: Task<Void, Never>?
            /// The number of its current (or last) job: a handle of an earlier job
            /// cancels nothing.
            var number: UInt64 = 0
            var phase = Phase.finished
        }

        let state = Lock(State())

        /// Takes `body` as its next job (the worker is idle: parked, or not started);
        /// the job's handle.
        func assign(_ body: @escaping @Sendable () async -> Void) -> Job {
            state.withLock { state in
                state.number &+= 1
                state.phase = .assigned(body: body)
                return Job(worker: self, number: state.number)
            }
        }

        func cancel(_ number: UInt64) {
            // Marked under the worker's lock, which the worker takes to mark the job
            // finished before it takes another: a worker whose job is marked cancelled
            // retires, so the task cancelled below can never be running a later job.
            // The task is cancelled outside the lock (its cancellation handlers run
            // right here).
            let task: Task<Void, Never>? = state.withLock { state in
                guard state.number == number, case .assigned = state.phase else { return nil }
                state.phase = .cancelled
                return state.task
            }
            task?.cancel()
        }

        /// The body, taken once by the worker that runs it: a job handle kept afterwards
        /// (by a driver, say) holds nothing the body captured. `nil` when the job was
        /// cancelled before it started.
        func takeBody() -> (@Sendable () async -> Void)? {
            state.withLock { state in
                guard case .assigned(let body) = state.phase else { return nil }
                state.phase = .assigned(body: nil)
                return body
            }
        }

        /// Marks the job finished; `true` if it was cancelled (the worker must retire).
        func markFinished() -> Bool {
            state.withLock { state in
                if case .cancelled = state.phase { return true }
                state.phase = .finished
                return false
            }
        }
    }

    private struct Idle {
        var worker: Worker
        /// Resumed with `true` when the worker has a job (assigned to it), `false` when
        /// it is to end.
        var continuation: UnsafeContinuation<Bool, Never>
    }

    private struct State {
        var idle: [Idle] = []
        var stopped = false
    }

    /// Workers kept parked at most; beyond that a worker with nothing to do ends.
    let maximumIdle: Int
    /// Where the workers run; `nil`: Swift's global executor.
    let executor: (any TaskExecutor)?
    private let state = Lock(State())
    private let started = Atomic<Int>(0)

    package init(executor: (any TaskExecutor)? = nil, maximumIdle: Int = 256) {
        self.executor = executor
        self.maximumIdle = max(0, maximumIdle)
    }

    /// Ends the parked workers and lets every busy one end after its job: the owner is
    /// going away. Jobs submitted afterwards still run (each on a worker that then ends).
    package func shutdown() {
        let idle = state.withLock { state in
            state.stopped = true
            defer { state.idle = [] }
            return state.idle
        }
        for worker in idle { worker.continuation.resume(returning: false) }
    }

    /// Runs `body` on an idle worker, or on a new one.
    @discardableResult
    package func submit(_ body: @escaping @Sendable () async -> Void) -> Job {
        // The job is assigned under the worker's lock, which the worker takes to run it.
        if let idle = state.withLock({ $0.idle.popLast() }) {
            let job = idle.worker.assign(body)
            idle.continuation.resume(returning: true)
            return job
        }
        let worker = Worker()
        let job = worker.assign(body)
        started.add(1, ordering: .relaxed)
        // The handle is stored under the worker's lock before `job` is returned, so a
        // `cancel()` (which needs the job) always finds it.
        worker.state.withLock { state in
            state.task = Task.detached(executorPreference: executor) { [self] in
                await self.work(as: worker)
            }
        }
        return job
    }

    /// Workers started so far (for tests and benchmarks).
    var workersStarted: Int { started.load(ordering: .relaxed) }

    /// Workers parked now.
    var idleCount: Int { state.withLock { $0.idle.count } }

    private func work(as worker: Worker) async {
        repeat {
            // A job cancelled before its worker took it does not run at all: its caller
            // has given up on it (the coordinator cancels only abandoned attempts).
            if let body = worker.takeBody() { await body() }
            if worker.markFinished() || Task.isCancelled { return }
        } while await park(worker)
    }

    /// Waits for the next job (assigned to `worker`); `false` when the pool keeps enough
    /// idle workers already, or is shut down.
    private func park(_ worker: Worker) async -> Bool {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Bool, Never>) in
            let parked = state.withLock { state in
                guard !state.stopped, state.idle.count < maximumIdle else { return false }
                state.idle.append(Idle(worker: worker, continuation: continuation))
                return true
            }
            if !parked { continuation.resume(returning: false) }
        }
    }
}
