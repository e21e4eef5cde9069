/// What a session's TLS came to, after STARTTLS and a handshake that succeeded.
public struct SMTPTLSInfo: Sendable, Hashable {
    /// The protocol, e.g. `"TLSv1.3"`.
    public var version: String
    /// The cipher suite, e.g. `"TLS_AES_256_GCM_SHA384"`.
    public var cipher: String
    /// The server name sent as SNI, if one was.
    public var serverName: String?
    /// From writing STARTTLS to its 220.
    public var startTLSReply: Duration
    /// The handshake itself.
    public var handshake: Duration
    /// Whether the handshake resumed an earlier session with this server (a TLS 1.3
    /// ticket): no certificate was exchanged.
    public var resumed: Bool

    /// STARTTLS and the handshake together: the `tls` timing phase.
    public var total: Duration { startTLSReply + handshake }

    /// Every field given.
    public init(
        version: String, cipher: String, serverName: String?, startTLSReply: Duration, handshake: Duration,
        resumed: Bool = false
    ) {
        self.version = version
        self.cipher = cipher
        self.serverName = serverName
        self.startTLSReply = startTLSReply
        self.handshake = handshake
        self.resumed = resumed
    }
}
