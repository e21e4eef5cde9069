import DirectSMTP
import Synchronization

/// Folds concurrent calls into batches: each caller hands in one request and waits; whatever
/// arrived while the database was busy goes to it as one statement, and each caller is
/// answered with its own result once that statement's transaction has committed.
///
/// A commit costs one disk flush however many rows it holds, so callers answered by one
/// commit share its flush; a caller still returns only after the commit that holds its
/// row. Below ``maxInFlight`` statements under way a call goes out at once, alone, from the
/// caller's own task (PostgreSQL flushes concurrent commits together anyway); at the limit,
/// calls gather and the next free slot sends them together, up to ``maxBatch`` a statement.
final class CallCoalescer<Request: Sendable, Response: Sendable>: Sendable {
    /// Runs one batch; answers each request, in order (as many results as requests).
    typealias Flush = @Sendable ([Request]) async -> [Result<Response, any Error>]

    private struct Waiter {
        var request: Request
        var continuation: CheckedContinuation<Response, any Error>
    }

    private struct State {
        var pending: [Waiter] = []
        var running = 0
    }

    private let state = Mutex(State())
    private let flush: Flush
    let maxBatch: Int
    let maxInFlight: Int

    init(maxBatch: Int, maxInFlight: Int, flush: @escaping Flush) {
        self.maxBatch = max(maxBatch, 1)
        self.maxInFlight = max(maxInFlight, 1)
        self.flush = flush
    }

    /// Hands in `request`; returns its response once the batch holding it has run.
    func submit(_ request: Request) async throws -> Response {
        let direct = state.withLock { state in
            guard state.running < maxInFlight && state.pending.isEmpty else { return false }
            state.running += 1
            return true
        }
        if direct {
            let result = await flush([request]).first
            // Calls that gathered meanwhile go next, from a runner of their own (not this
            // caller's task, whose cancellation must not cut short others' rows).
            let drains = state.withLock { state in
                if state.pending.isEmpty {
                    state.running -= 1
                    return false
                }
                return true
            }
            if drains { Task { await self.run() } }
            guard let result else { throw Self.unanswered }
            return try result.get()
        }
        return try await withCheckedThrowingContinuation { continuation in
            let startsRunner = state.withLock { state in
                state.pending.append(Waiter(request: request, continuation: continuation))
                guard state.running < maxInFlight else { return false }
                state.running += 1
                return true
            }
            if startsRunner { Task { await self.run() } }
        }
    }

    private static var unanswered: QueueStoreError {
        QueueStoreError(.databaseError, "a batched statement gave no answer for this call")
    }

    /// Runs batches until nothing is pending, then gives its slot back.
    private func run() async {
        while true {
            let batch = state.withLock { state -> [Waiter] in
                let taken = Array(state.pending.prefix(maxBatch))
                state.pending.removeFirst(taken.count)
                if taken.isEmpty { state.running -= 1 }
                return taken
            }
            if batch.isEmpty { return }
            let results = await flush(batch.map(\.request))
            for (index, waiter) in batch.enumerated() {
                if index < results.count {
                    waiter.continuation.resume(with: results[index])
                } else {
                    waiter.continuation.resume(throwing: Self.unanswered)
                }
            }
        }
    }
}
