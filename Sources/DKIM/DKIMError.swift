/// Why a DKIM key could not be used or a message could not be signed: a stable ``code``
/// to switch on and a sentence for people. Never carries key material.
public struct DKIMError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, stable across releases.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The code's text (`key-too-weak`).
        public let rawValue: String
        /// Wraps a code's text.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The key file could not be read.
        public static let keyUnreadable = Code(rawValue: "key-unreadable")
        /// The file holds no PEM private key that libcrypto could parse (or it is encrypted).
        public static let keyInvalid = Code(rawValue: "key-invalid")
        /// A key type DKIM has no algorithm for (only RSA and Ed25519 are signed with).
        public static let keyTypeUnsupported = Code(rawValue: "key-type-unsupported")
        /// An RSA key under 1024 bits (RFC 8301 §3.2 forbids them; use 2048).
        public static let keyTooWeak = Code(rawValue: "key-too-weak")
        /// A selector or signing domain that is not a valid DNS name.
        public static let invalidName = Code(rawValue: "invalid-name")
        /// The message has no From header to sign or to take the signing domain from.
        public static let noFrom = Code(rawValue: "no-from")
        /// libcrypto failed while signing.
        public static let signingFailed = Code(rawValue: "signing-failed")
        /// Built without the `OpenSSL` package trait: no DKIM.
        public static let unavailable = Code(rawValue: "unavailable")

        /// The code's text.
        public var description: String { rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// A sentence saying what and, where it helps, what to do.
    public var message: String

    /// An error with its code and sentence.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}
