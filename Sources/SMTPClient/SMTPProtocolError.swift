/// A server said something that is not a valid SMTP reply: a stable ``Code`` and a
/// sentence. The connection cannot be trusted afterwards (treated as 451).
public struct SMTPProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, stable across releases; new codes may be added.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The stable text of the code, as logs and JSON show it.
        public let rawValue: String
        /// A code from its stable text.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The stable text (the raw value).
        public var description: String { rawValue }

        /// A line longer than 2048 bytes (or no line end within that many bytes).
        public static let lineTooLong = Code(rawValue: "line-too-long")
        /// A reply longer than 64 KiB or 1000 lines.
        public static let replyTooLong = Code(rawValue: "reply-too-long")
        /// A line that does not start with a three-digit code from 200 to 599.
        public static let invalidCode = Code(rawValue: "invalid-code")
        /// The code is not followed by a space, a hyphen or the line end.
        public static let invalidSeparator = Code(rawValue: "invalid-separator")
        /// Lines of one reply carry different codes.
        public static let mixedCodes = Code(rawValue: "mixed-codes")
        /// A reply came that fits no command (e.g. a 3xx where none can be).
        public static let unexpectedReply = Code(rawValue: "unexpected-reply")
        /// The server sent a reply before the command it would answer was written (a
        /// second greeting, two replies to one command): every later reply would be read
        /// as the wrong command's, so the session stops.
        public static let outOfTurn = Code(rawValue: "out-of-turn")
    }

    /// The stable code.
    public let code: Code
    /// A readable sentence.
    public let message: String

    /// An error with `code` and a sentence.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The sentence followed by the code in parentheses, for logs.
    public var description: String { "\(message) (\(code))" }
}
