#if canImport(Glibc)
import Glibc
#endif

/// A connected TCP socket: nonblocking, `TCP_NODELAY`, read and written with deadlines.
///
/// One task may read while another writes; two concurrent reads (or writes) fail with
/// ``SocketError/Code/busy``. Cancelling a task suspended in an operation ends it at once
/// with ``SocketError/Code/cancelled``. ``close()`` is idempotent and also runs on deinit.
///
/// ```swift
/// let connection = try await TCPConnection.connect(
///     to: SocketAddress(ip: "127.0.0.1", port: 2525), deadline: .now + .seconds(2))
/// defer { connection.close() }
/// try await connection.write(Array("EHLO me\r\n".utf8), deadline: .now + .seconds(1))
/// let reply = try await connection.read(deadline: .now + .seconds(1))  // [] at end of stream
/// ```
public final class TCPConnection: Sendable {
    let handle: SocketHandle
    /// The peer's address.
    public let remoteAddress: SocketAddress

    init(handle: SocketHandle, remoteAddress: SocketAddress) {
        self.handle = handle
        self.remoteAddress = remoteAddress
    }

    /// Opens a connection: nonblocking `connect`, then waits for writability and reads
    /// `SO_ERROR` for the verdict.
    /// - Parameter deadline: when to give up (``SocketError/Code/timedOut``); `nil` waits
    ///   as long as the kernel does.
    public nonisolated(nonsending) static func connect(
        to address: SocketAddress,
        deadline: ContinuousClock.Instant?,
        loop: EventLoop = .shared
    ) async throws(SocketError) -> TCPConnection {
        try checkDeadline(deadline, "connecting to \(address)")
        guard address.port != 0 else {
            throw SocketError(.invalidAddress, "cannot connect to port 0 (\(address))")
        }
        let handle = try SocketHandle(fd: makeSocket(address.family, SOCK_STREAM), loop: loop)
        do throws(SocketError) {
            setNoDelay(handle)
            let seen = handle.registration.edges(.write)
            let error: Int32 = try handle.withFD { fd in
                address.withSockAddr { Glibc.connect(fd, $0, $1) } == 0 ? 0 : Glibc.errno
            }
            // EINTR: the connection attempt goes on asynchronously, exactly as EINPROGRESS.
            if error == EINPROGRESS || error == EINTR {
                // A write edge is no proof of a finished handshake: EPOLL_CTL_ADD of the
                // fresh socket already queued EPOLLOUT|EPOLLHUP, which the loop may count
                // after `seen` was read. Wait until SO_ERROR or getpeername decides.
                var seen = seen
                while true {
                    try await handle.wait(for: .write, seen: seen, deadline: deadline, "connecting to \(address)")
                    seen = handle.registration.edges(.write)
                    let (pending, connected): (Int32, Bool) = try handle.withFD { fd in
                        var value: Int32 = 0
                        var length = socklen_t(MemoryLayout<Int32>.size)
                        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) == 0 else { return (Glibc.errno, false) }
                        guard value == 0 else { return (value, false) }
                        var peer = sockaddr_storage()
                        var peerLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
                        let named = withUnsafeMutablePointer(to: &peer) {
                            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &peerLength) == 0 }
                        }
                        return (0, named)  // ENOTCONN: still in SYN_SENT, the edge was stale
                    }
                    if pending != 0 { throw SocketError.system(pending, "connecting to \(address)") }
                    if connected { break }
                }
            } else if error != 0 {
                throw SocketError.system(error, "connecting to \(address)")
            }
            return TCPConnection(handle: handle, remoteAddress: address)
        } catch {
            handle.close()
            throw error
        }
    }

    /// Reads what is available, at most `maxBytes`, waiting until something arrives.
    /// - Returns: the bytes read; an empty array means the peer closed (end of stream).
    public nonisolated(nonsending) func read(
        maxBytes: Int = 16 * 1024, deadline: ContinuousClock.Instant? = nil
    ) async throws(SocketError) -> [UInt8] {
        var bytes: [UInt8] = []
        _ = try await read(appendingTo: &bytes, maxBytes: maxBytes, deadline: deadline)
        return bytes
    }

    /// Reads what is available, at most `maxBytes`, appending it to `buffer`.
    /// - Returns: the count appended; 0 means end of stream.
    public nonisolated(nonsending) func read(
        appendingTo buffer: inout [UInt8],
        maxBytes: Int = 16 * 1024,
        deadline: ContinuousClock.Instant? = nil
    ) async throws(SocketError) -> Int {
        guard maxBytes > 0 else { throw SocketError(.invalidArgument, "read needs maxBytes > 0") }
        // Receive into scratch memory and append only what arrived: a reader suspended
        // in the wait holds no buffer, and a short read does not pin a large capacity.
        // recv returns at most what is queued; never ask the allocator for more than that.
        let capacity = min(maxBytes, 1 << 20)
        return try await handle.retrying(
            .read, deadline: deadline, "reading from \(remoteAddress)",
            drained: { $0 > 0 && $0 < capacity }  // see retrying: not once the peer hung up
        ) { fd throws(SocketError) in
            let outcome: (Int, Int32) = withUnsafeTemporaryAllocation(byteCount: capacity, alignment: 16) { scratch in
                let (received, error) = retryingEINTR { recv(fd, scratch.baseAddress, capacity, 0) }
                if received > 0 {
                    buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<received]))
                }
                return (received, error)
            }
            if outcome.0 >= 0 { return outcome.0 }
            if isWouldBlock(outcome.1) { return nil }
            throw SocketError.system(outcome.1, "reading from \(remoteAddress)")
        }
    }

    /// Writes all of `bytes`, suspending while the kernel's send buffer is full.
    public nonisolated(nonsending) func write(
        _ bytes: [UInt8], deadline: ContinuousClock.Instant? = nil
    ) async throws(SocketError) {
        var offset = 0
        while offset < bytes.count {
            let remaining = bytes.count - offset
            offset += try await handle.retrying(
                .write, deadline: deadline, "writing to \(remoteAddress)",
                drained: { $0 < remaining }  // a partial send: the send buffer is full
            ) { fd throws(SocketError) in
                let (sent, error) = bytes.withUnsafeBytes { raw in
                    retryingEINTR { send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL)) }
                }
                if sent >= 0 { return sent }
                if isWouldBlock(error) { return nil }
                throw SocketError.system(error, "writing to \(remoteAddress)")
            }
        }
    }

    /// Sends what the kernel takes at once, without waiting; returns whether all of it went.
    /// For last words on the way out (a TLS close_notify before `close`).
    func sendWithoutWaiting(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return true }
        let sent = try? handle.withFD { fd in
            bytes.withUnsafeBytes { raw in
                retryingEINTR { send(fd, raw.baseAddress!, raw.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }.0
            }
        }
        return sent == bytes.count
    }

    /// Half-closes the connection: the peer reads end of stream; reading stays possible.
    public func shutdownWrite() {
        _ = try? handle.withFD { fd in Glibc.shutdown(fd, Int32(SHUT_WR)) }
    }

    /// The local end's address.
    public var localAddress: SocketAddress? { try? handle.withFD(localAddressOf) }

    /// `true` once ``close()`` was called.
    public var isClosed: Bool { handle.isClosed }

    /// Closes the connection; idempotent. Suspended operations fail with `.closed`.
    public func close() { handle.close() }

    /// Aborts the connection: `SO_LINGER` with a zero timeout, then ``close()``, so the
    /// kernel sends RST instead of FIN and drops unsent data (the peer's next read or
    /// write fails with `ECONNRESET`). For mock servers that play a crashing peer.
    public func closeWithReset() {
        _ = try? handle.withFD { fd in
            var abort = linger(l_onoff: 1, l_linger: 0)
            return setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, socklen_t(MemoryLayout<linger>.size))
        }
        handle.close()
    }
}

// MARK: Helpers shared by the socket types

/// A nonblocking, close-on-exec socket of `family` and `type`.
func makeSocket(_ family: Int32, _ type: __socket_type) throws(SocketError) -> Int32 {
    let fd = socket(family, Int32(type.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw SocketError.system(Glibc.errno, "creating a socket") }
    return fd
}

func setNoDelay(_ handle: SocketHandle) {
    _ = try? handle.withFD { fd in
        var one: Int32 = 1
        return setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }
}

func localAddressOf(_ fd: Int32) -> SocketAddress? {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let ok = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
    }
    return ok ? SocketAddress(storage: storage) : nil
}

/// Binds `fd` to `address` (with `SO_REUSEADDR`, and `IPV6_V6ONLY` for IPv6).
func bindSocket(_ fd: Int32, to address: SocketAddress, reuseAddress: Bool) throws(SocketError) {
    var one: Int32 = 1
    if reuseAddress {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    }
    if address.isIPv6 {
        setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
    }
    guard address.withSockAddr({ Glibc.bind(fd, $0, $1) }) == 0 else {
        throw SocketError.system(Glibc.errno, "binding to \(address)")
    }
}
