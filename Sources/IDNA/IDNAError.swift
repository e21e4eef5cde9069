/// Why a domain name could not be converted to its A-label (ASCII) form: a stable
/// ``Code`` to switch on and a sentence for people.
public struct IDNAError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, stable across releases; new codes may be added.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The stable text of the code, as logs and JSON show it.
        public let rawValue: String
        /// A code from its stable text.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The stable text (the raw value).
        public var description: String { rawValue }

        /// The name is empty, or has an empty label (`a..b`, a leading dot).
        public static let emptyLabel = Code(rawValue: "empty-label")
        /// A label is longer than 63 bytes once converted.
        public static let labelTooLong = Code(rawValue: "label-too-long")
        /// The whole name is longer than 253 bytes once converted (255 on the wire).
        public static let nameTooLong = Code(rawValue: "name-too-long")
        /// A character that no host name may contain (space, `@`, control characters...).
        public static let invalidCharacter = Code(rawValue: "invalid-character")
        /// A label starts or ends with a hyphen.
        public static let invalidHyphen = Code(rawValue: "invalid-hyphen")
        /// An `xn--` label that is not valid punycode.
        public static let invalidPunycode = Code(rawValue: "invalid-punycode")
        /// The input is too long to be encoded.
        public static let overflow = Code(rawValue: "overflow")
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
