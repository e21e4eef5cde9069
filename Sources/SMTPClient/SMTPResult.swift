/// The verdict, where it was decided, and why.
public struct SMTPResult: Sendable, Hashable, CustomStringConvertible {
    /// Why a session ended the way it did, where the verdict alone does not say: stable
    /// codes for callers to switch on (new ones may be added).
    public struct Reason: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The stable text of the code, as logs and JSON show it.
        public let rawValue: String
        /// A code from its stable text.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The stable text (the raw value).
        public var description: String { rawValue }

        /// The server demanded TLS (`530 5.7.0`, x.7.10, x.7.29, `421 4.7.0 TLS required`)
        /// on a plaintext session: never terminal (the verdict is
        /// ``SMTPVerdict/temporaryFailure`` in a transaction, ``SMTPVerdict/unreachable``
        /// before); worth another try with TLS.
        public static let tlsRequired = Reason(rawValue: "tls-required")
        /// ``TLSPolicy/required`` and no TLS to be had: STARTTLS not offered, refused, or
        /// this build has no TLS. Nothing was sent in plaintext after EHLO.
        public static let tlsUnavailable = Reason(rawValue: "tls-unavailable")
        /// The TLS handshake failed (OpenSSL's reason in the detail), timed out or the
        /// server closed the connection during it. With ``TLSPolicy/opportunistic`` a new
        /// plaintext connection to the same host may succeed.
        public static let tlsHandshakeFailed = Reason(rawValue: "tls-handshake-failed")
        /// Bytes arrived after the 220 to STARTTLS, before the handshake: a response
        /// injection attack (or a broken server); the session was aborted.
        public static let tlsResponseInjection = Reason(rawValue: "tls-response-injection")
        /// Credentials were configured and the server offers AUTH, but the session is not
        /// encrypted: the credentials were not sent.
        public static let authRequiresTLS = Reason(rawValue: "auth-requires-tls")
        /// The server broke the protocol (garbage, a reply nobody asked for): no verdict.
        public static let protocolError = Reason(rawValue: "protocol-error")
    }

    /// The verdict.
    public var verdict: SMTPVerdict
    /// The step where it was decided.
    public var step: SMTPStep
    /// The deciding reply, when a reply decided it (locally decided refusals carry a
    /// reply built here, flagged in ``detail``).
    public var reply: SMTPReply?
    /// A human detail, e.g. "timed out waiting for the RCPT reply".
    public var detail: String?
    /// A stable code for why, when the verdict alone does not say (TLS, protocol errors).
    public var reason: Reason?
    /// A probe's catch-all test (``SMTPSession/probe(from:to:catchAllProbe:)``): `true`
    /// when a random local part of the domain was accepted too, `false` when it (or the
    /// recipient itself) was refused as unknown, `nil` when not asked or unknown.
    public var catchAll: Bool?

    /// A result; `reply`, `detail`, `reason` and `catchAll` are optional.
    public init(
        verdict: SMTPVerdict, step: SMTPStep, reply: SMTPReply? = nil, detail: String? = nil, reason: Reason? = nil,
        catchAll: Bool? = nil
    ) {
        self.verdict = verdict
        self.step = step
        self.reply = reply
        self.detail = detail
        self.reason = reason
        self.catchAll = catchAll
    }

    /// The verdict and the step, then the reply or the detail, for logs.
    public var description: String {
        var text = "\(verdict) at \(step.rawValue)"
        if let reply { text += ": \(reply)" }
        if let detail { text += " (\(detail))" }
        if let reason { text += " [\(reason)]" }
        return text
    }
}
