/// What an ``SMTPSession`` needs besides the server address: the name it gives in
/// EHLO/HELO, per-step timeouts, and optional AUTH credentials.
///
/// ```swift
/// let configuration = try SMTPSessionConfiguration(heloName: "app.example.com")
/// ```
public struct SMTPSessionConfiguration: Sendable {
    /// The EHLO/HELO argument: a host name in A-label form or an address literal.
    /// Validated: never contains CR, LF, NUL or spaces.
    public var heloName: String { validatedHeloName }
    /// Per-step timeouts.
    public var timeouts: SMTPTimeouts
    /// AUTH credentials, used only when given and the server offers PLAIN or LOGIN, and
    /// only over TLS: a session without TLS refuses to open with them.
    public var credentials: SMTPCredentials?

    private var validatedHeloName: String

    /// - Parameters:
    ///   - heloName: a host name (IDN allowed, converted to A-labels) or an address
    ///     literal `[192.0.2.1]`.
    /// - Throws: ``EmailAddressError`` when the name is not a host name or holds CR/LF/NUL.
    public init(
        heloName: String, timeouts: SMTPTimeouts = .interactive, credentials: SMTPCredentials? = nil
    ) throws(EmailAddressError) {
        self.validatedHeloName = try EmailAddress.validateDomain(heloName, allowLiteral: true)
        self.timeouts = timeouts
        self.credentials = credentials
    }
}
