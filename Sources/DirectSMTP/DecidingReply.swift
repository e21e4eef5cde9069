/// The server reply that decided an outcome: `550 5.1.1 no such user` becomes code 550,
/// enhanced `5.1.1`, text `no such user`.
public struct DecidingReply: Sendable, Hashable, CustomStringConvertible {
    /// The three-digit reply code, 200...599.
    public var code: Int
    /// The RFC 3463 enhanced status code (`5.1.1`), when the server gave one whose class
    /// matches the code's.
    public var enhanced: String?
    /// The reply's text lines joined with `\n`, without code and enhanced code.
    public var text: String

    /// A reply from its parts.
    public init(code: Int, enhanced: String? = nil, text: String) {
        self.code = code
        self.enhanced = enhanced
        self.text = text
    }

    /// `550 5.1.1 no such user` (first line of the text only).
    public var description: String {
        let firstLine =
            text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init)
            ?? ""
        return [String(code), enhanced, firstLine.isEmpty ? nil : firstLine]
            .compactMap { $0 }
            .joined(separator: " ")
    }
}

/// The MX host an outcome refers to: the one that gave the deciding reply, or the last
/// one tried.
public struct MailExchangerUsed: Sendable, Hashable {
    /// The MX host name (A-label, lower case, no trailing dot), or the address literal.
    public var host: String
    /// The numeric address connected to.
    public var ip: String
    /// The MX preference (0 for an implicit MX or an address literal).
    public var preference: Int

    /// An MX host from its parts.
    public init(host: String, ip: String, preference: Int) {
        self.host = host
        self.ip = ip
        self.preference = preference
    }
}

/// One line of an SMTP conversation, as ``VerificationOutcome/transcript`` keeps it
/// (credentials are never recorded).
public struct TranscriptLine: Sendable, Hashable, CustomStringConvertible {
    /// Who spoke.
    public enum Direction: String, Sendable, Hashable {
        /// We sent it (`C:`).
        case client
        /// The server sent it (`S:`).
        case server
        /// A note of ours: connecting, timeouts, races (`*`).
        case note
    }

    /// The server address the line belongs to (several hosts may be raced).
    public var server: String
    /// Who spoke.
    public var direction: Direction
    /// The text, without CRLF.
    public var text: String

    /// A line from its parts.
    public init(server: String, direction: Direction, text: String) {
        self.server = server
        self.direction = direction
        self.text = text
    }

    /// `[192.0.2.1:25] S: 220 mx.example.com ESMTP`.
    public var description: String {
        let tag =
            switch direction {
            case .client: "C:"
            case .server: "S:"
            case .note: "*"
            }
        return "[\(server)] \(tag) \(text)"
    }
}
