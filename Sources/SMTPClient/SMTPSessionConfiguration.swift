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
    /// AUTH credentials, used only when given and the server offers PLAIN or LOGIN.
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

/// A user name and password for AUTH PLAIN or LOGIN (RFC 4954). Never printed: its
/// `description` is redacted, and transcripts show `<redacted>` in its place.
public struct SMTPCredentials: Sendable, Hashable, CustomStringConvertible {
    /// The user name.
    public var username: String
    /// The password.
    public var password: String

    /// - Throws: ``EmailAddressError/Code/forbiddenCharacter`` for a NUL, CR or LF in either.
    public init(username: String, password: String) throws(EmailAddressError) {
        for text in [username, password] where text.utf8.contains(where: { $0 == 0 || $0 == 0x0A || $0 == 0x0D }) {
            throw EmailAddressError(.forbiddenCharacter, "credentials may not contain NUL, CR or LF")
        }
        self.username = username
        self.password = password
    }

    public var description: String { "SMTPCredentials(<redacted>)" }
}
