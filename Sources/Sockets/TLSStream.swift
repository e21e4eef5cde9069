#if OpenSSL
import COpenSSL
import Synchronization

/// TLS over a connected ``TCPConnection`` (for STARTTLS: the connection already carried
/// plaintext), through OpenSSL with memory BIOs.
///
/// OpenSSL never touches the socket: it reads ciphertext from one memory buffer and writes
/// to another, and this type moves the bytes with the connection's own `read` and `write`.
/// So every wait is the event loop's (deadline, cancellation, no blocked thread) exactly
/// as for plaintext, and OpenSSL's `WANT_READ` simply means "read more from the socket".
///
/// ```swift
/// let tls = try await TLSStream.connect(
///     over: connection, serverName: "mx.example.com",
///     context: try .opportunisticClient(), deadline: .now + .seconds(2))
/// print(tls.protocolVersion, tls.cipher)          // "TLSv1.3" "TLS_AES_128_GCM_SHA256"
/// try await tls.write(Array("EHLO me\r\n".utf8), deadline: .now + .seconds(1))
/// ```
///
/// One operation at a time: a read while another read or a write is running fails with
/// ``SocketError/Code/busy`` (a TLS read may need to write, and the other way round).
/// ``close()`` sends close_notify without waiting, then closes the socket.
///
/// The handshake's last flight (the client's Finished; a TLS 1.3 server's tickets) goes
/// out with the first write after it, in one segment, or before the stream next waits for
/// the socket, whichever comes first: the peer needs it before it can answer, never
/// earlier. In SMTP that saves a system call and a wake-up at each end per STARTTLS.
public final class TLSStream: ByteStream {
    /// The TCP connection underneath.
    public let connection: TCPConnection
    /// The negotiated protocol, e.g. `"TLSv1.3"`.
    public let protocolVersion: String
    /// The negotiated cipher suite, e.g. `"TLS_AES_256_GCM_SHA384"`.
    public let cipher: String
    /// The server name the client asked for (SNI): on the server side, what the client
    /// sent; on the client side, what was sent (`nil` when none was).
    public let serverName: String?
    /// Whether the handshake resumed an earlier session (no certificate exchanged).
    public let resumed: Bool
    private let state: Lock<State>

    private struct State {
        let engine: TLSEngine
        var busy = false
        var closed = false
        /// Ciphertext not yet sent: the handshake's last flight (see the type's note).
        var unsent: [UInt8]
    }

    /// The server's address (of the TCP connection beneath).
    public var remoteAddress: SocketAddress { connection.remoteAddress }

    private init(connection: TCPConnection, engine: TLSEngine, serverName: String?, unsent: [UInt8]) {
        self.connection = connection
        self.protocolVersion = engine.protocolVersion
        self.cipher = engine.cipher
        self.serverName = serverName
        self.resumed = engine.resumed
        self.state = Lock(State(engine: engine, unsent: unsent))
    }

    /// The client side: runs the handshake over `connection` until `deadline`, resuming
    /// the session last kept for this server name and address in the context's
    /// ``TLSContext/sessionCache``, if any; tickets the server sends are kept there.
    /// - Parameter serverName: sent as SNI unless it is an IP literal (RFC 6066 §3) or not
    ///   an ASCII host name.
    /// - Throws: ``SocketError/Code/tls`` with OpenSSL's reason when the handshake fails;
    ///   `.timedOut`, `.cancelled`, `.connectionReset` as for any read. The connection is
    ///   left open (the caller closes it).
    public nonisolated(nonsending) static func connect(
        over connection: TCPConnection, serverName: String?, context: TLSContext,
        deadline: ContinuousClock.Instant?
    ) async throws(SocketError) -> TLSStream {
        let name = serverName.flatMap(sniName)
        // Sessions are resumed per name and address: a ticket is only good at the server
        // (cluster) that issued it, and the same name may lead elsewhere.
        let sessionKey = "\(name ?? "") \(connection.remoteAddress)"
        let engine = try TLSEngine(context: context, server: false, serverName: name, sessionKey: sessionKey)
        let unsent: [UInt8]
        do {
            unsent = try await handshake(engine, over: connection, deadline: deadline)
        } catch {
            context.sessionCache?.remove(sessionKey)
            throw error
        }
        return TLSStream(connection: connection, engine: engine, serverName: name, unsent: unsent)
    }

    /// The server side: runs the handshake over `connection` until `deadline`.
    public nonisolated(nonsending) static func accept(
        over connection: TCPConnection, context: TLSContext, deadline: ContinuousClock.Instant?
    ) async throws(SocketError) -> TLSStream {
        let engine = try TLSEngine(context: context, server: true, serverName: nil)
        let unsent = try await handshake(engine, over: connection, deadline: deadline)
        return TLSStream(
            connection: connection, engine: engine, serverName: engine.requestedServerName, unsent: unsent)
    }

    /// Reads decrypted bytes, at most `maxBytes`, and appends them to `buffer`; an empty read
    /// means the peer closed. Throws `SocketError` on a TLS failure, a timeout at `deadline` or
    /// cancellation.
    public nonisolated(nonsending) func read(
        appendingTo buffer: inout [UInt8], maxBytes: Int = 16 * 1024, deadline: ContinuousClock.Instant? = nil
    ) async throws(SocketError) -> Int {
        guard maxBytes > 0 else { throw SocketError(.invalidArgument, "read needs maxBytes > 0") }
        let engine = try begin("reading")
        defer { end() }
        var inbound: [UInt8] = []
        while true {
            let (count, status, output) = engine.decrypt(appendingTo: &buffer, maxBytes: maxBytes)
            if !output.isEmpty { try await connection.write(withUnsent(output), deadline: deadline) }
            if count > 0 { return count }
            switch status {
            case .done: return 0  // close_notify
            case .wantRead:
                // The peer may need the handshake's last flight before it says more.
                let unsent = takeUnsent()
                if !unsent.isEmpty { try await connection.write(unsent, deadline: deadline) }
                inbound.removeAll(keepingCapacity: true)
                let received = try await connection.read(appendingTo: &inbound, maxBytes: 17 * 1024, deadline: deadline)
                // End of stream without close_notify: the caller sees end of stream, as
                // with plaintext (SMTP treats it as a broken-off session, never as data).
                if received == 0 { return 0 }
                engine.feed(inbound)
            case .failed(let reason):
                throw SocketError(.tls, "TLS error reading from \(remoteAddress): \(reason)")
            }
        }
    }

    /// Encrypts and writes all of `bytes` by `deadline`; throws `SocketError` on a TLS failure,
    /// a timeout or cancellation.
    public nonisolated(nonsending) func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant? = nil) async throws(SocketError) {
        guard !bytes.isEmpty else { return }
        let engine = try begin("writing")
        defer { end() }
        let (output, failure) = engine.encrypt(bytes)
        if let failure { throw SocketError(.tls, "TLS error writing to \(remoteAddress): \(failure)") }
        try await connection.write(withUnsent(output), deadline: deadline)
    }

    /// Sends close_notify (if the kernel takes it at once) and closes the socket. Idempotent.
    /// While another task reads or writes, only the socket is closed (that operation then
    /// fails): the engine is that operation's until it ends, and OpenSSL must not see two
    /// threads in one session.
    public func close() {
        let farewell: [UInt8] = state.withLock { state in
            guard !state.closed else { return [] }
            state.closed = true
            defer { state.unsent = [] }
            if state.busy { return [] }
            return state.unsent + state.engine.shutdown()
        }
        _ = connection.sendWithoutWaiting(farewell)
        connection.close()
    }

    deinit { close() }

    private func begin(_ what: String) throws(SocketError) -> TLSEngine {
        let outcome: Result<TLSEngine, SocketError> = state.withLock { state in
            if state.closed { return .failure(SocketError(.closed, "the TLS stream is closed")) }
            if state.busy {
                return .failure(SocketError(.busy, "another task is already using the TLS stream to \(remoteAddress)"))
            }
            state.busy = true
            return .success(state.engine)
        }
        return try outcome.get()
    }

    private func end() { state.withLock { $0.busy = false } }

    /// The handshake's last flight, if it has not gone out yet (only the operation that
    /// holds the stream calls this).
    private func takeUnsent() -> [UInt8] {
        state.withLock { state in
            defer { state.unsent = [] }
            return state.unsent
        }
    }

    /// `output` after the handshake's last flight, if that has not gone out yet.
    private func withUnsent(_ output: [UInt8]) -> [UInt8] {
        let unsent = takeUnsent()
        return unsent.isEmpty ? output : unsent + output
    }

    /// Runs the handshake; returns its last flight, unsent (see the type's note).
    private nonisolated(nonsending) static func handshake(
        _ engine: TLSEngine, over connection: TCPConnection, deadline: ContinuousClock.Instant?
    ) async throws(SocketError) -> [UInt8] {
        var inbound: [UInt8] = []
        while true {
            let (status, output) = engine.handshakeStep()
            if case .failed(let reason) = status {
                // The alert, if any, on a best-effort basis: the failure is the news.
                _ = connection.sendWithoutWaiting(output)
                throw SocketError(.tls, "TLS handshake with \(connection.remoteAddress) failed: \(reason)")
            }
            if case .done = status { return output }
            if !output.isEmpty { try await connection.write(output, deadline: deadline) }
            inbound.removeAll(keepingCapacity: true)
            let received = try await connection.read(appendingTo: &inbound, maxBytes: 17 * 1024, deadline: deadline)
            if received == 0 {
                throw SocketError(
                    .connectionReset, "\(connection.remoteAddress) closed the connection during the TLS handshake")
            }
            engine.feed(inbound)
        }
    }

    /// A name fit for SNI: a host name in ASCII, not an IP literal, no trailing dot.
    static func sniName(_ name: String) -> String? {
        var name = name
        if name.hasSuffix(".") { name.removeLast() }
        guard !name.isEmpty, name.utf8.count <= 253,
            name.utf8.allSatisfy({ $0 == 0x2D || $0 == 0x2E || $0 == 0x5F || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }),
            (try? SocketAddress(ip: name, port: 1)) == nil
        else { return nil }
        return name
    }

    /// An error from OpenSSL's error queue (this thread's), for calls outside a stream.
    static func error(_ what: String) -> SocketError {
        SocketError(.tls, "\(what) failed: \(TLSEngine.drainErrors(fallback: "unknown OpenSSL error"))")
    }
}

/// One OpenSSL `SSL` with its two memory BIOs. Not thread-safe by itself; the proof behind
/// `@unchecked Sendable`: before the handshake ends only the handshaking call holds it, and
/// afterwards ``TLSStream`` hands it out to one operation at a time (the `busy` flag, set
/// and cleared under the stream's `Lock`, which also orders each operation after the last),
/// and `close` shuts the session down only when no operation holds it.
final class TLSEngine: @unchecked Sendable {
    enum Status {
        case done
        case wantRead
        case failed(String)
    }

    private let ssl: OpaquePointer
    private let inbound: OpaquePointer
    private let outbound: OpaquePointer
    private var fatal = false

    /// Where new sessions go (a client with a session cache), and under which key.
    private let sessionCache: TLSSessionCache?
    private let sessionKey: String

    init(context: TLSContext, server: Bool, serverName: String?, sessionKey: String = "") throws(SocketError) {
        ERR_clear_error()
        guard let ssl = SSL_new(context.context) else { throw TLSStream.error("creating a TLS session") }
        guard let inbound = BIO_new(BIO_s_mem()), let outbound = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSStream.error("creating TLS buffers")
        }
        // A drained read buffer says "retry" (WANT_READ), not end of stream.
        _ = BIO_ctrl(inbound, BIO_C_SET_BUF_MEM_EOF_RETURN, -1, nil)
        SSL_set_bio(ssl, inbound, outbound)  // the SSL owns both now
        self.ssl = ssl
        self.inbound = inbound
        self.outbound = outbound
        self.sessionCache = server ? nil : context.sessionCache
        self.sessionKey = sessionKey
        if server {
            SSL_set_accept_state(ssl)
        } else {
            SSL_set_connect_state(ssl)
            if let serverName { _ = directsmtp_SSL_set_tlsext_host_name(ssl, serverName) }
            if let sessionCache {
                if let saved = sessionCache.session(for: sessionKey) {
                    _ = SSL_set_session(ssl, saved.session)  // takes its own reference
                }
                // For `newSessionCallback`: the SSL never outlives this engine.
                _ = directsmtp_SSL_set_app_data(ssl, Unmanaged.passUnretained(self).toOpaque())
            }
        }
    }

    /// OpenSSL's new-session callback (a ticket arrived): the session goes to the engine's
    /// cache, which owns it from then on (returning 1 tells OpenSSL so).
    static let newSessionCallback: @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32 = { ssl, session in
        guard let ssl, let session, let raw = directsmtp_SSL_get_app_data(ssl) else { return 0 }
        let engine = Unmanaged<TLSEngine>.fromOpaque(raw).takeUnretainedValue()
        guard let cache = engine.sessionCache else { return 0 }
        cache.store(session, for: engine.sessionKey)
        return 1
    }

    /// Whether the handshake resumed a kept session.
    var resumed: Bool { SSL_session_reused(ssl) == 1 }

    deinit { SSL_free(ssl) }

    var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    var cipher: String {
        guard let cipher = SSL_get_current_cipher(ssl) else { return "" }
        return String(cString: SSL_CIPHER_get_name(cipher))
    }

    var requestedServerName: String? {
        SSL_get_servername(ssl, Int32(TLSEXT_NAMETYPE_host_name)).map { String(cString: $0) }
    }

    func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in _ = BIO_write(inbound, raw.baseAddress, Int32(raw.count)) }
    }

    func handshakeStep() -> (Status, [UInt8]) {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        let status = result == 1 ? Status.done : status(after: result)
        return (status, takeOutput())
    }

    func decrypt(appendingTo buffer: inout [UInt8], maxBytes: Int) -> (Int, Status, [UInt8]) {
        ERR_clear_error()
        let capacity = min(maxBytes, 16 * 1024)
        let count = withUnsafeTemporaryAllocation(byteCount: capacity, alignment: 16) { scratch -> Int32 in
            let count = SSL_read(ssl, scratch.baseAddress, Int32(capacity))
            if count > 0 { buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<Int(count)])) }
            return count
        }
        if count > 0 { return (Int(count), .wantRead, takeOutput()) }
        return (0, status(after: count), takeOutput())
    }

    func encrypt(_ bytes: [UInt8]) -> ([UInt8], String?) {
        ERR_clear_error()
        let written = bytes.withUnsafeBytes { raw in SSL_write(ssl, raw.baseAddress, Int32(raw.count)) }
        if written == Int32(bytes.count) { return (takeOutput(), nil) }
        if case .failed(let reason) = status(after: written) { return (takeOutput(), reason) }
        return (takeOutput(), "the TLS session wants to renegotiate, which is not supported")
    }

    /// close_notify, unless the session broke (OpenSSL forbids a shutdown after a fatal error).
    func shutdown() -> [UInt8] {
        guard !fatal, SSL_is_init_finished(ssl) == 1 else { return [] }
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        return takeOutput()
    }

    private func status(after result: Int32) -> Status {
        let error = SSL_get_error(ssl, result)
        switch error {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wantRead
        case SSL_ERROR_ZERO_RETURN: return .done
        default:
            fatal = true
            return .failed(Self.drainErrors(fallback: "TLS failure (OpenSSL error \(error))"))
        }
    }

    private func takeOutput() -> [UInt8] {
        let pending = Int(BIO_ctrl_pending(outbound))
        guard pending > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: pending) { raw, count in
            count = Int(max(0, BIO_read(outbound, raw.baseAddress, Int32(pending))))
        }
    }

    /// OpenSSL's reasons from this thread's error queue, e.g. "wrong version number".
    static func drainErrors(fallback: String) -> String {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            guard code != 0 else { break }
            if let reason = ERR_reason_error_string(code) {
                reasons.append(String(cString: reason))
            } else {
                reasons.append("OpenSSL error \(code)")
            }
        }
        return reasons.isEmpty ? fallback : reasons.joined(separator: "; ")
    }
}
#endif
