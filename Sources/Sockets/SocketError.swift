#if canImport(Glibc)
import Glibc
#endif

/// An error from the socket layer: a stable ``Code`` to switch on, the underlying `errno`
/// when there is one, and a sentence for people.
///
/// ```swift
/// do {
///     let connection = try await TCPConnection.connect(to: address, deadline: .now + .seconds(2))
/// } catch where error.code == .timedOut {
///     // try the next MX host
/// }
/// ```
public struct SocketError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, stable across releases; new codes may be added.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The stable text of the code, as logs and JSON show it.
        public let rawValue: String
        /// A code from its stable text.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The stable text (the raw value).
        public var description: String { rawValue }

        /// The peer actively refused the connection (`ECONNREFUSED`).
        public static let connectionRefused = Code(rawValue: "connection-refused")
        /// The deadline passed before the operation could finish.
        public static let timedOut = Code(rawValue: "timed-out")
        /// The peer reset the connection (`ECONNRESET`, `EPIPE`).
        public static let connectionReset = Code(rawValue: "connection-reset")
        /// No route to the network or host (`ENETUNREACH`, `EHOSTUNREACH`, `EADDRNOTAVAIL`).
        public static let unreachable = Code(rawValue: "unreachable")
        /// The socket was closed, by this process, before or during the operation.
        public static let closed = Code(rawValue: "closed")
        /// The local address is already taken (`EADDRINUSE`).
        public static let addressInUse = Code(rawValue: "address-in-use")
        /// A host string that is not a numeric IPv4/IPv6 address, or a port out of range.
        public static let invalidAddress = Code(rawValue: "invalid-address")
        /// An argument the call cannot accept (for example a buffer size of zero).
        public static let invalidArgument = Code(rawValue: "invalid-argument")
        /// The task waiting on the operation was cancelled.
        public static let cancelled = Code(rawValue: "cancelled")
        /// Another task is already reading (or writing) this socket.
        public static let busy = Code(rawValue: "busy")
        /// The event loop was shut down.
        public static let loopShutdown = Code(rawValue: "loop-shutdown")
        /// The process or system ran out of file descriptors (`EMFILE`, `ENFILE`).
        public static let tooManyOpenFiles = Code(rawValue: "too-many-open-files")
        /// TLS failed: a handshake the peer refused or broke off, a bad record, an alert, or
        /// a peer that said something that is not TLS. The message carries OpenSSL's reason.
        public static let tls = Code(rawValue: "tls")
        /// Any other system error; see ``SocketError/errno``.
        public static let other = Code(rawValue: "other")
    }

    /// The stable code.
    public let code: Code
    /// The system error number behind the failure, if one.
    public let errno: Int32?
    /// A readable sentence saying what failed.
    public let message: String

    /// An error with its `code`, the `errno` behind it if any, and a sentence for people.
    public init(_ code: Code, errno: Int32? = nil, _ message: String) {
        self.code = code
        self.errno = errno
        self.message = message
    }

    /// The sentence followed by the code (and the `errno`, if any) in parentheses, for logs.
    public var description: String {
        guard let errno else { return "\(message) (\(code))" }
        return "\(message) (\(code), errno \(errno): \(String(cString: strerror(errno))))"
    }

    /// Maps an `errno` value from `operation` to a code.
    static func system(_ errno: Int32, _ operation: String) -> SocketError {
        let code: Code
        switch errno {
        case ECONNREFUSED: code = .connectionRefused
        case ECONNRESET, EPIPE, ECONNABORTED: code = .connectionReset
        case ETIMEDOUT: code = .timedOut
        case ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL, ENETDOWN: code = .unreachable
        case EADDRINUSE: code = .addressInUse
        case EBADF: code = .closed
        case EMFILE, ENFILE: code = .tooManyOpenFiles
        case EINVAL, EAFNOSUPPORT: code = .invalidArgument
        default: code = .other
        }
        return SocketError(code, errno: errno, "\(operation) failed")
    }
}
