/// Why a text is not a usable email address (or HELO name): a stable ``Code`` to switch
/// on and a sentence for people. The sentence never echoes control characters.
public struct EmailAddressError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, stable across releases; new codes may be added.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The stable text of the code, as logs and JSON show it.
        public let rawValue: String
        /// A code from its stable text.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The stable text (the raw value).
        public var description: String { rawValue }

        /// CR, LF or NUL somewhere in the text: a command-injection attempt or a paste error.
        public static let forbiddenCharacter = Code(rawValue: "forbidden-character")
        /// No `@`, or nothing before or after it.
        public static let missingAt = Code(rawValue: "missing-at")
        /// The local part is neither a dot-atom nor a quoted string.
        public static let invalidLocalPart = Code(rawValue: "invalid-local-part")
        /// The domain is not a host name (after IDNA conversion).
        public static let invalidDomain = Code(rawValue: "invalid-domain")
        /// An address literal that is not `[IPv4]` or `[IPv6:...]`.
        public static let invalidAddressLiteral = Code(rawValue: "invalid-address-literal")
        /// The local part is longer than 64 bytes.
        public static let localPartTooLong = Code(rawValue: "local-part-too-long")
        /// The domain is longer than 255 bytes.
        public static let domainTooLong = Code(rawValue: "domain-too-long")
        /// The whole address is longer than 254 bytes.
        public static let addressTooLong = Code(rawValue: "address-too-long")
    }

    /// The stable code.
    public let code: Code
    /// A readable sentence saying what is wrong.
    public let message: String

    /// An error with `code` and a sentence.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The sentence followed by the code in parentheses, for logs.
    public var description: String { "\(message) (\(code))" }
}

/// `text` made safe for an error sentence: control characters (C0, DEL, C1, which
/// could drive a terminal or forge a log line) become `?`, and only the first 300
/// characters are kept.
func printable(_ text: String) -> String {
    var view = String.UnicodeScalarView()
    for scalar in text.unicodeScalars.prefix(300) {
        let value = scalar.value
        view.append(value < 0x20 || (0x7F...0x9F).contains(value) ? "?" : scalar)
    }
    if text.unicodeScalars.count > 300 { view.append("…") }
    return String(view)
}
