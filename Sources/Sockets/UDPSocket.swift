import CSystemShims

#if canImport(Glibc)
import Glibc
#endif

/// A UDP socket with async send and receive.
///
/// ``connect(to:loop:)`` makes a client socket on a kernel-chosen random port whose
/// datagrams from any other source are dropped by the kernel (RFC 5452's first line of
/// defence for DNS); ``bind(to:loop:)`` makes a server socket that receives from anyone.
public final class UDPSocket: Sendable {
    let handle: SocketHandle
    /// The peer of a connected socket; `nil` for a bound one.
    public let remoteAddress: SocketAddress?
    /// The local address, with the port the kernel chose.
    public let localAddress: SocketAddress

    private init(handle: SocketHandle, remoteAddress: SocketAddress?, localAddress: SocketAddress) {
        self.handle = handle
        self.remoteAddress = remoteAddress
        self.localAddress = localAddress
    }

    /// A socket bound to `address` (port 0: the kernel picks one).
    public static func bind(to address: SocketAddress, loop: EventLoop = .shared) throws(SocketError) -> UDPSocket {
        let handle = try SocketHandle(fd: makeSocket(address.family, SOCK_DGRAM), loop: loop)
        do throws(SocketError) {
            let local: SocketAddress = try handle.withFD { fd throws(SocketError) in
                try bindSocket(fd, to: address, reuseAddress: false)
                return localAddressOf(fd) ?? address
            }
            return UDPSocket(handle: handle, remoteAddress: nil, localAddress: local)
        } catch {
            handle.close()
            throw error
        }
    }

    /// A socket connected to `address`, from a kernel-chosen random local port.
    public static func connect(to address: SocketAddress, loop: EventLoop = .shared) throws(SocketError) -> UDPSocket {
        guard address.port != 0 else {
            throw SocketError(.invalidAddress, "cannot send to port 0 (\(address))")
        }
        let handle = try SocketHandle(fd: makeSocket(address.family, SOCK_DGRAM), loop: loop)
        do throws(SocketError) {
            let local: SocketAddress = try handle.withFD { fd throws(SocketError) in
                guard address.withSockAddr({ Glibc.connect(fd, $0, $1) }) == 0 else {
                    throw SocketError.system(Glibc.errno, "connecting a UDP socket to \(address)")
                }
                return localAddressOf(fd) ?? address
            }
            return UDPSocket(handle: handle, remoteAddress: address, localAddress: local)
        } catch {
            handle.close()
            throw error
        }
    }

    /// Sends one datagram: to the connected peer, or to `destination` on a bound socket.
    public nonisolated(nonsending) func send(
        _ bytes: [UInt8], to destination: SocketAddress? = nil, deadline: ContinuousClock.Instant? = nil
    ) async throws(SocketError) {
        let target = destination ?? remoteAddress
        // Built only if an error needs it.
        let what = { "sending a datagram to \(target.map(\.description) ?? "nowhere")" }
        if destination != nil, remoteAddress != nil {
            throw SocketError(.invalidArgument, "\(what()): a connected socket sends only to its peer")
        }
        guard let target else { throw SocketError(.invalidArgument, "\(what()): no destination") }
        let connected = remoteAddress != nil
        _ = try await handle.retrying(.write, deadline: deadline, what()) { fd throws(SocketError) -> Int? in
            let (sent, error) = bytes.withUnsafeBytes { raw in
                retryingEINTR {
                    connected
                        ? Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
                        : target.withSockAddr { sendto(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL), $0, $1) }
                }
            }
            if sent >= 0 { return sent }
            if isWouldBlock(error) { return nil }
            throw SocketError.system(error, what())
        }
    }

    /// Waits for one datagram (truncated to `maxBytes`) and returns it with its source.
    public nonisolated(nonsending) func receive(
        maxBytes: Int = 65_536, deadline: ContinuousClock.Instant? = nil
    ) async throws(SocketError) -> (bytes: [UInt8], from: SocketAddress) {
        guard maxBytes > 0 else { throw SocketError(.invalidArgument, "receive needs maxBytes > 0") }
        // Built only if an error needs it.
        let what = { "receiving a datagram on \(self.localAddress)" }
        // No datagram exceeds 64 KiB; never ask the allocator for more than that.
        let capacity = min(maxBytes, 65_536)
        return try await handle.retrying(.read, deadline: deadline, what()) { fd throws(SocketError) in
            // `nil` must mean EAGAIN only (see `SocketHandle.retrying`), so a datagram from
            // an address family we cannot represent is dropped and the next one read.
            while true {
                var storage = sockaddr_storage()
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let (received, error, bytes) = withUnsafeTemporaryAllocation(byteCount: capacity, alignment: 16) { scratch in
                    let (received, error) = withUnsafeMutablePointer(to: &storage) { pointer in
                        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                            retryingEINTR { recvfrom(fd, scratch.baseAddress, capacity, 0, address, &length) }
                        }
                    }
                    let bytes = received > 0 ? Array(UnsafeRawBufferPointer(rebasing: scratch[..<received])) : []
                    return (received, error, bytes)
                }
                if received >= 0 {
                    guard let source = SocketAddress(storage: storage) else { continue }
                    return (bytes, source)
                }
                if isWouldBlock(error) { return nil }
                throw SocketError.system(error, what())
            }
        }
    }

    /// Closes the socket; idempotent.
    public func close() { handle.close() }
}
