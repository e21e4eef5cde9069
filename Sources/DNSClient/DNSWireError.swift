/// Why a byte string is not a valid DNS message (or a text is not a valid DNS name): a
/// stable ``Code`` to switch on, the byte offset where decoding stopped, and a sentence.
///
/// Decoding is total: every input yields either a ``DNSMessage`` or one of these.
///
/// ```swift
/// do {
///     let message = try DNSMessage(decoding: datagram)
/// } catch where error.code == .pointerLoop {
///     // hostile or broken packet
/// }
/// ```
public struct DNSWireError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong, stable across releases; new codes may be added.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The stable code text.
        public let rawValue: String
        /// Wraps a raw value.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The code text.
        public var description: String { rawValue }

        /// Fewer than the 12 bytes of a header.
        public static let truncatedHeader = Code(rawValue: "truncated-header")
        /// A field, name, count or RDLENGTH reaches past the end of the message.
        public static let truncated = Code(rawValue: "truncated")
        /// A compression pointer leads back into a name already being read.
        public static let pointerLoop = Code(rawValue: "pointer-loop")
        /// A compression pointer points forwards (at or after itself).
        public static let forwardPointer = Code(rawValue: "forward-pointer")
        /// A compression pointer points into the 12-byte header.
        public static let pointerIntoHeader = Code(rawValue: "pointer-into-header")
        /// A compression pointer points at another pointer.
        public static let pointerToPointer = Code(rawValue: "pointer-to-pointer")
        /// A label longer than 63 bytes (a length byte 0x40...0xBF, or text input).
        public static let labelTooLong = Code(rawValue: "label-too-long")
        /// A name longer than 255 bytes in wire form.
        public static let nameTooLong = Code(rawValue: "name-too-long")
        /// An empty label inside a name given as text (`a..b`).
        public static let emptyLabel = Code(rawValue: "empty-label")
        /// RDATA shorter or longer than its type requires (an MX without a target, an
        /// A record of 3 bytes, a name that does not end where RDLENGTH says).
        public static let badRDATA = Code(rawValue: "bad-rdata")
        /// Bytes left over after the last record the counts announce.
        public static let trailingBytes = Code(rawValue: "trailing-bytes")
    }

    /// The stable code.
    public let code: Code
    /// The byte offset in the message where the problem was found (0 for text names).
    public let offset: Int
    /// A readable sentence.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, at offset: Int, _ message: String) {
        self.code = code
        self.offset = offset
        self.message = message
    }

    /// A readable form.
    public var description: String { "\(message) (\(code) at byte \(offset))" }
}
