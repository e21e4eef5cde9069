/// Whether a session uses STARTTLS (RFC 3207).
///
/// ```swift
/// if let failure = await session.open(tls: .required, serverName: "mx.example.com") { ... }
/// ```
public enum TLSPolicy: String, Sendable, Hashable, CaseIterable {
    /// STARTTLS whenever the server offers it, the certificate not verified (RFC 7435;
    /// Postfix's `may`); plaintext when it is not offered or refused with 454. A failed
    /// handshake ends the session (`SMTPResult.Reason.tlsHandshakeFailed`): a new
    /// connection in plaintext is the caller's decision (the `DirectSMTP` coordinator
    /// makes it, within the call's budget, and then uses plaintext with that address for
    /// an hour).
    case opportunistic
    /// TLS or nothing: no STARTTLS offered, STARTTLS refused or a failed handshake ends the
    /// session before MAIL (`SMTPResult.Reason.tlsUnavailable`,
    /// `SMTPResult.Reason.tlsHandshakeFailed`); nothing is sent in plaintext.
    case required
    /// Never STARTTLS.
    case off
}
