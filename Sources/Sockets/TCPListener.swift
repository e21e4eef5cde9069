import CSystemShims

#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket with async accept. Bind to port 0 and read ``localAddress`` to
/// let the kernel pick a free port, as tests and mock servers do.
///
/// ```swift
/// let listener = try TCPListener.bind(to: SocketAddress(ip: "127.0.0.1", port: 0))
/// let connection = try await listener.accept()
/// ```
public final class TCPListener: Sendable {
    let handle: SocketHandle
    /// The bound address, with the port the kernel chose.
    public let localAddress: SocketAddress

    private init(handle: SocketHandle, localAddress: SocketAddress) {
        self.handle = handle
        self.localAddress = localAddress
    }

    /// Binds and listens. `backlog` is passed to `listen(2)` unchanged.
    public static func bind(
        to address: SocketAddress, backlog: Int32 = 1024, loop: EventLoop = .shared
    ) throws(SocketError) -> TCPListener {
        let handle = try SocketHandle(fd: makeSocket(address.family, SOCK_STREAM), loop: loop)
        do throws(SocketError) {
            let bound: SocketAddress = try handle.withFD { fd throws(SocketError) in
                try bindSocket(fd, to: address, reuseAddress: true)
                guard listen(fd, backlog) == 0 else {
                    throw SocketError.system(Glibc.errno, "listening on \(address)")
                }
                return localAddressOf(fd) ?? address
            }
            return TCPListener(handle: handle, localAddress: bound)
        } catch {
            handle.close()
            throw error
        }
    }

    /// Waits for the next connection, as ``accept(deadline:)`` does, but waits out a
    /// shortage of file descriptors (retrying every 10 ms) instead of throwing: what a
    /// server's accept loop needs, since ending the loop there would leave every later
    /// client waiting in the backlog for ever. Throws once the listener is closed or the
    /// task cancelled.
    public nonisolated(nonsending) func acceptWaitingOutFDShortage() async throws(SocketError) -> TCPConnection {
        while true {
            do {
                return try await accept()
            } catch where error.code == .tooManyOpenFiles {
                if Task.isCancelled { throw SocketError(.cancelled, "accepting on \(localAddress)") }
                await handle.loop.sleep(until: .now + .milliseconds(10))
            }
        }
    }

    /// Waits for the next connection. Transient failures (`ECONNABORTED`) are skipped;
    /// running out of fds throws ``SocketError/Code/tooManyOpenFiles`` and leaves the
    /// listener usable.
    public nonisolated(nonsending) func accept(deadline: ContinuousClock.Instant? = nil) async throws(SocketError) -> TCPConnection {
        // Built only if an error needs it.
        let what = { "accepting on \(self.localAddress)" }
        let (fd, peer): (Int32, SocketAddress) = try await handle.retrying(.read, deadline: deadline, what()) { listenFD throws(SocketError) in
            // `nil` must mean EAGAIN only: `retrying` then marks the direction drained and
            // waits for a new edge, though more connections may already be queued.
            while true {
                var storage = sockaddr_storage()
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let (fd, error) = withUnsafeMutablePointer(to: &storage) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                        retryingEINTR {
                            directsmtp_accept4(listenFD, address, &length, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                        }
                    }
                }
                if fd >= 0 {
                    guard let peer = SocketAddress(storage: storage) else {
                        Glibc.close(fd)
                        continue
                    }
                    return (fd, peer)
                }
                if isWouldBlock(error) { return nil }
                // accept(2) on Linux passes on the new connection's pending network errors
                // and asks callers to treat them like EAGAIN, by retrying.
                if transientAcceptErrors.contains(error) { continue }
                throw SocketError.system(error, what())
            }
        }
        let handle = try SocketHandle(fd: fd, loop: self.handle.loop)
        setNoDelay(handle)
        return TCPConnection(handle: handle, remoteAddress: peer)
    }

    /// Stops listening; idempotent. A suspended ``accept(deadline:)`` fails with `.closed`.
    public func close() { handle.close() }
}

private let transientAcceptErrors: Set<Int32> = [
    ECONNABORTED, EPROTO, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP, ENETDOWN, ENETUNREACH,
]
