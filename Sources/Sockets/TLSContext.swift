#if OpenSSL
import COpenSSL

/// The settings every ``TLSStream`` of one side shares (an OpenSSL `SSL_CTX`): TLS 1.2 at
/// least, 1.3 preferred (OpenSSL negotiates the highest both sides have).
///
/// ```swift
/// let client = try TLSContext.opportunisticClient()           // shared, made once
/// let server = try TLSContext.server(certificateChainPEM: chain, privateKeyPEM: key)
/// ```
///
/// Safe to share: an `SSL_CTX` is only read once configured (OpenSSL documents it as
/// usable from several threads for `SSL_new`), and nothing here changes it after `init`.
/// That is the proof behind `@unchecked Sendable`.
public final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer
    /// Whether streams made from it are the server side.
    public let isServer: Bool
    /// A client's sessions to resume, per server name and address; `nil` for servers.
    public let sessionCache: TLSSessionCache?

    private init(server: Bool, sessionCache: TLSSessionCache? = nil) throws(SocketError) {
        guard let context = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()) else {
            throw TLSStream.error("creating a TLS context")
        }
        self.context = context
        self.isServer = server
        self.sessionCache = sessionCache
        if sessionCache != nil {
            // Sessions go to the callback (kept in our cache), never into OpenSSL's own
            // store: the cache is keyed by server, which OpenSSL's client side is not.
            _ = directsmtp_SSL_CTX_set_session_cache_mode(
                context, directsmtp_SSL_CTX_client_session_cache())
            SSL_CTX_sess_set_new_cb(context, TLSEngine.newSessionCallback)
        }
        _ = directsmtp_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION)
        // Idle sessions give their record buffers back (about 34 KiB each between
        // operations; `smtp idle-tls` in the harness measures it).
        _ = directsmtp_SSL_CTX_set_mode(context, Int(SSL_MODE_RELEASE_BUFFERS))
        // Opportunistic TLS (RFC 7435): encryption without authentication; the
        // certificate is not verified.
        SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
    }

    deinit { SSL_CTX_free(context) }

    private static let sharedClient: Result<TLSContext, SocketError> = {
        do throws(SocketError) {
            return .success(try client(sessionCache: TLSSessionCache()))
        } catch {
            return .failure(error)
        }
    }()

    /// A client context for opportunistic TLS (certificate not verified) with a session
    /// cache of its own (`nil`: every handshake is a full one). Sessions use
    /// ``opportunisticClient()``; this is for tests and tools that need their own cache.
    public static func client(sessionCache: TLSSessionCache?) throws(SocketError) -> TLSContext {
        let context = try TLSContext(server: false, sessionCache: sessionCache)
        // A server certificate chain larger than this (OpenSSL's default, 100 KiB) ends
        // the handshake with "excessive message size" instead of buffering it.
        _ = directsmtp_SSL_CTX_set_max_cert_list(context.context, 100 * 1024)
        // AES-128-GCM first (RFC 8446 §9.1's mandatory suite): its SHA-256 key schedule
        // costs less than SHA-384's, about 5 % of a send's CPU in `smtp send --tls`; the
        // server still decides when it prefers its own order.
        _ = SSL_CTX_set_ciphersuites(
            context.context, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256")
        return context
    }

    /// The client context for opportunistic TLS (certificate not verified), made once per
    /// process, with its ``sessionCache``: sessions are resumed per server name and address.
    public static func opportunisticClient() throws(SocketError) -> TLSContext {
        try sharedClient.get()
    }

    /// A server context presenting `certificateChainPEM` (leaf first) with its key.
    /// - Parameter sessionTickets: tickets issued after each TLS 1.3 handshake, for
    ///   clients to resume with (stateless: the server keeps nothing); 0 makes every
    ///   connection a full handshake.
    public static func server(
        certificateChainPEM: [UInt8], privateKeyPEM: [UInt8], sessionTickets: Int = 1
    ) throws(SocketError) -> TLSContext {
        let server = try TLSContext(server: true)
        _ = SSL_CTX_set_num_tickets(server.context, max(0, sessionTickets))
        // Tickets are stateless (the session travels inside them, encrypted): a server
        // cache would only hold every session for nothing, about 10 KiB each (measured
        // with `smtp idle-tls`), and sweep them now and then.
        _ = directsmtp_SSL_CTX_set_session_cache_mode(server.context, 0)
        let loaded = certificateChainPEM.withUnsafeBytes { chain in
            privateKeyPEM.withUnsafeBytes { key -> Bool in
                guard let chainBIO = BIO_new_mem_buf(chain.baseAddress, Int32(chain.count)) else { return false }
                defer { BIO_free(chainBIO) }
                guard let leaf = PEM_read_bio_X509(chainBIO, nil, nil, nil) else { return false }
                defer { X509_free(leaf) }
                guard SSL_CTX_use_certificate(server.context, leaf) == 1 else { return false }
                while let extra = PEM_read_bio_X509(chainBIO, nil, nil, nil) {
                    // SSL_CTX_add1_chain_cert keeps its own reference.
                    defer { X509_free(extra) }
                    guard directsmtp_SSL_CTX_add1_chain_cert(server.context, extra) == 1 else { return false }
                }
                ERR_clear_error()  // the loop's end: "no start line" is no error here
                guard let keyBIO = BIO_new_mem_buf(key.baseAddress, Int32(key.count)) else { return false }
                defer { BIO_free(keyBIO) }
                guard let privateKey = PEM_read_bio_PrivateKey(keyBIO, nil, nil, nil) else { return false }
                defer { EVP_PKEY_free(privateKey) }
                return SSL_CTX_use_PrivateKey(server.context, privateKey) == 1
                    && SSL_CTX_check_private_key(server.context) == 1
            }
        }
        guard loaded else { throw TLSStream.error("loading the server certificate and key") }
        return server
    }
}
#endif
