/// One scripted answer of ``MockSMTPServer``: a reply, and how to deliver it (after a
/// delay, one byte at a time, cut off by a close, replaced by garbage, or never).
///
/// ```swift
/// var script = MockSMTPScript()
/// script.rcpt = .reply(550, "5.1.1 no such user")
/// script.mail = .reply(250, "2.1.0 OK").delayed(by: .milliseconds(20))
/// script.endOfData = .closeMidReply
/// script.data = .silence
/// script.greeting = .reset               // RST right after the accept
/// ```
public struct MockSMTPResponse: Sendable, Hashable {
    /// How the reply is delivered.
    public enum Behavior: Sendable, Hashable {
        /// The reply, in one write.
        case normal
        /// The reply, one byte per write with a short pause between bytes.
        case oneByteAtATime
        /// The first half of the reply, then the connection closes.
        case closeMidReply
        /// Nothing, ever: the server keeps reading but stays silent.
        case silence
        /// The connection closes without a reply.
        case close
        /// The connection is aborted without a reply: RST instead of FIN (`SO_LINGER` 0),
        /// as from a server that crashed or a middlebox that dropped the connection.
        case reset
        /// These bytes instead of a reply.
        case garbage([UInt8])
        /// The reply, then these bytes that no command asked for (e.g. a surplus
        /// `250 extra`), in the same write.
        case followedBy([UInt8])
    }

    /// The reply code.
    public var code: Int
    /// The text lines (each becomes `code-text` / `code text`).
    public var lines: [String]
    /// A pause before the reply is written.
    public var delay: Duration
    /// How the reply is delivered.
    public var behavior: Behavior

    /// A response with every field given.
    public init(code: Int, lines: [String], delay: Duration = .zero, behavior: Behavior = .normal) {
        self.code = code
        self.lines = lines
        self.delay = delay
        self.behavior = behavior
    }

    /// A reply; several lines make a multiline reply.
    public static func reply(_ code: Int, _ lines: String...) -> MockSMTPResponse {
        MockSMTPResponse(code: code, lines: lines.isEmpty ? [""] : lines)
    }

    /// No answer, ever.
    public static let silence = MockSMTPResponse(code: 0, lines: [], behavior: .silence)
    /// Close the connection instead of answering.
    public static let close = MockSMTPResponse(code: 0, lines: [], behavior: .close)
    /// Abort the connection (RST) instead of answering.
    public static let reset = MockSMTPResponse(code: 0, lines: [], behavior: .reset)
    /// Half of `451 4.3.0 closing mid reply` and a close.
    public static let closeMidReply = MockSMTPResponse(code: 451, lines: ["4.3.0 closing mid reply"], behavior: .closeMidReply)

    /// Raw bytes instead of a reply.
    public static func garbage(_ text: String) -> MockSMTPResponse {
        MockSMTPResponse(code: 0, lines: [], behavior: .garbage(Array(text.utf8)))
    }

    /// The same response after `delay`.
    public func delayed(by delay: Duration) -> MockSMTPResponse {
        var copy = self
        copy.delay = delay
        return copy
    }

    /// The same reply, then `surplus` (e.g. `"250 2.0.0 extra\r\n"`) unasked.
    public func followed(by surplus: String) -> MockSMTPResponse {
        var copy = self
        copy.behavior = .followedBy(Array(surplus.utf8))
        return copy
    }

    /// The same reply, written one byte at a time.
    public func oneByteAtATime() -> MockSMTPResponse {
        var copy = self
        copy.behavior = .oneByteAtATime
        return copy
    }

    /// The wire form: `code-line` ... `code line`, CRLF after each.
    public var wireBytes: [UInt8] {
        var output: [UInt8] = []
        let all = lines.isEmpty ? [""] : lines
        for (index, line) in all.enumerated() {
            let separator = index == all.count - 1 ? (line.isEmpty ? "" : " ") : "-"
            output.append(contentsOf: "\(code)\(separator)\(line)\r\n".utf8)
        }
        return output
    }
}
