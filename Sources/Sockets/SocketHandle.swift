
#if canImport(Glibc)
import Glibc
#endif

/// The single owner of one file descriptor.
///
/// System calls borrow the fd through ``withFD(_:)``, which counts calls in flight. `close`
/// first removes the fd from epoll (failing suspended waiters with `.closed`), then closes
/// it once no call is in flight, so the number can never be reused under a call that is
/// still running. The fd is closed exactly once: by `close()` or, if its owner forgot, by
/// `deinit`.
final class SocketHandle: Sendable {
    private struct State {
        var inFlight = 0
        var closeRequested = false
        var closed = false
    }

    let loop: EventLoop
    let registration: Registration
    private let state = Lock(State())

    /// Takes ownership of `fd`: registers it, or closes it and throws.
    init(fd: Int32, loop: EventLoop) throws(SocketError) {
        do {
            self.registration = try loop.register(fd: fd)
        } catch {
            Glibc.close(fd)
            throw error
        }
        self.loop = loop
    }

    deinit { close() }

    var isClosed: Bool { state.withLock { $0.closeRequested } }

    /// Runs a system call on the fd; throws `.closed` if the socket was closed.
    func withFD<R>(_ body: (Int32) throws(SocketError) -> R) throws(SocketError) -> R {
        let open = state.withLock { state in
            guard !state.closeRequested else { return false }
            state.inFlight += 1
            return true
        }
        guard open else { throw SocketError(.closed, "the socket is closed") }
        defer {
            let closeNow = state.withLock { state in
                state.inFlight -= 1
                guard state.closeRequested, state.inFlight == 0, !state.closed else { return false }
                state.closed = true
                return true
            }
            if closeNow { Glibc.close(registration.fd) }
        }
        return try body(registration.fd)
    }

    /// Idempotent.
    func close() {
        // Pin the fd number, as an in-flight call would, until it has left epoll: else a
        // concurrent withFD could close it, and the kernel reuse the number for another
        // socket, before our EPOLL_CTL_DEL removed that other socket from epoll.
        let first = state.withLock { state -> Bool in
            guard !state.closeRequested else { return false }
            state.closeRequested = true
            state.inFlight += 1
            return true
        }
        guard first else { return }
        loop.deregister(registration)
        let closeNow = state.withLock { state -> Bool in
            state.inFlight -= 1
            guard state.inFlight == 0, !state.closed else { return false }
            state.closed = true
            return true
        }
        // Never retried on EINTR: on Linux the fd is gone either way.
        if closeNow { Glibc.close(registration.fd) }
    }

    /// Waits for readiness after an `EAGAIN`, translating how the wait ended.
    nonisolated(nonsending) func wait(
        for interest: Interest, seen: UInt64, deadline: ContinuousClock.Instant?, _ what: @autoclosure () -> String
    ) async throws(SocketError) {
        switch await loop.wait(for: interest, on: registration, seen: seen, deadline: deadline) {
        case .ready: return
        case .timedOut: throw SocketError(.timedOut, "\(what()) timed out")
        case .cancelled: throw SocketError(.cancelled, "\(what()) was cancelled")
        case .closed: throw SocketError(.closed, "the socket was closed during \(what())")
        case .busy: throw SocketError(.busy, "another task is already busy \(what())")
        case .shutdown: throw SocketError(.loopShutdown, "the event loop was shut down during \(what())")
        }
    }

    /// Runs `attempt` until it yields a result, suspending whenever it reports `EAGAIN`.
    ///
    /// `attempt` returns the syscall result or `nil` for `EAGAIN` (`EINTR` is retried
    /// inside). The edge count is read before each attempt; see ``EventLoop``.
    ///
    /// `drained` says whether a result proves the kernel had no more (a TCP read shorter
    /// than asked, a partial send): the next call then waits for an edge without first
    /// asking the kernel, which would only say EAGAIN. Sound because any data arriving
    /// after the system call raises a new edge; but not for reading once the peer hung up:
    /// its end of stream may have come in the same edge as the data just read, and no
    /// edge will follow, so the next read must ask the kernel (it answers 0 at once).
    nonisolated(nonsending) func retrying<R>(
        _ interest: Interest,
        deadline: ContinuousClock.Instant?,
        _ what: @autoclosure () -> String,
        drained: (R) -> Bool = { _ in false },
        _ attempt: (Int32) throws(SocketError) -> R?
    ) async throws(SocketError) -> R {
        try checkDeadline(deadline, what())
        while true {
            let seen = registration.edges(interest)
            // If the last attempt hit EAGAIN and no edge has come since, the kernel has
            // nothing for us: skip the system call that would only say EAGAIN again.
            if registration.drainedAt(interest) != seen {
                if let value = try withFD(attempt) {
                    if drained(value),
                        interest == .write || !registration.peerHungUp.load(ordering: .sequentiallyConsistent)
                    {
                        registration.markDrained(interest, at: seen)
                    }
                    return value
                }
                registration.markDrained(interest, at: seen)
            }
            try await wait(for: interest, seen: seen, deadline: deadline, what())
        }
    }
}

/// Throws `.timedOut` for a deadline already in the past, before any system call.
func checkDeadline(_ deadline: ContinuousClock.Instant?, _ what: @autoclosure () -> String) throws(SocketError) {
    if let deadline, deadline <= .now {
        throw SocketError(.timedOut, "\(what()): the deadline had already passed")
    }
}

/// Calls `body` until it stops failing with `EINTR`; returns its result and `errno`.
@inline(__always)
func retryingEINTR<R: BinaryInteger>(_ body: () -> R) -> (R, Int32) {
    while true {
        let result = body()
        if result >= 0 { return (result, 0) }
        let error = Glibc.errno
        if error != EINTR { return (result, error) }
    }
}

/// `EAGAIN` as a value: `nil` means "not ready".
@inline(__always)
func isWouldBlock(_ error: Int32) -> Bool { error == EAGAIN || error == EWOULDBLOCK }
