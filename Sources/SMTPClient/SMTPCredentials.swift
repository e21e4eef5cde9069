/// A user name and password for AUTH PLAIN or LOGIN (RFC 4954). Never printed: its
/// `description` is redacted, and transcripts show `<redacted>` in its place.
public struct SMTPCredentials: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable {
    /// The user name (read-only: validated at construction).
    public private(set) var username: String
    /// The password (read-only: validated at construction).
    public private(set) var password: String

    /// - Throws: ``EmailAddressError/Code/forbiddenCharacter`` for a NUL, CR or LF in either.
    public init(username: String, password: String) throws(EmailAddressError) {
        for text in [username, password] where text.utf8.contains(where: { $0 == 0 || $0 == 0x0A || $0 == 0x0D }) {
            throw EmailAddressError(.forbiddenCharacter, "credentials may not contain NUL, CR or LF")
        }
        self.username = username
        self.password = password
    }

    /// Never the user name or the password: `SMTPCredentials(<redacted>)`.
    public var description: String { "SMTPCredentials(<redacted>)" }

    /// Redacted, like ``description``.
    public var debugDescription: String { description }

    /// No children: `dump()`, debuggers' reflection and logging libraries that walk a
    /// value's `Mirror` see nothing of the user name or password.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
