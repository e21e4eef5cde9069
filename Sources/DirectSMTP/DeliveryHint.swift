/// What a sign-up handler or an operator can do about a reply, when the big providers'
/// documented codes and texts say (JSON `hint`; `null` when none applies).
public enum DeliveryHint: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    /// SPF, DKIM or DMARC did not pass for our sender (Gmail x.7.26/27/30/40, Microsoft
    /// 5.7.515, Yahoo 554 5.7.9): fix the sending domain; `directsmtp doctor` says what.
    case authentication
    /// The sending address has no PTR, or one that does not resolve back (Gmail 4.7.23,
    /// 5.7.25, 421 4.7.0 with a reverse-DNS text).
    case reverseDNS = "reverse-dns"
    /// The receiver insists on TLS (x.7.29, 530 5.7.0, x.7.10).
    case tlsRequired = "tls-required"
    /// Rate, connection or reputation limits (Gmail x.7.28, Microsoft RP-00x, 4.7.500–699,
    /// Yahoo TSS04): slow down; the queue retries later.
    case rateLimited = "rate-limited"
    /// The sending address is on a block list (Microsoft S3150 and the like).
    case blocklisted
    /// The mailbox exists but receives too fast (Gmail 450 4.2.1): a retry will do.
    case mailboxBusy = "mailbox-busy"

    /// The raw value, e.g. `reverse-dns`.
    public var description: String { rawValue }
}
