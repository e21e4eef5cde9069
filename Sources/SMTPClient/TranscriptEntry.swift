/// One line of an SMTP conversation: what was sent or received, by whom, and when. AUTH
/// data appears as `<redacted>`; a message body as a byte count. A session records its
/// own lines; the coordinator reports them as they are, with notes of its own (a race
/// candidate abandoned) in the same type.
public struct TranscriptEntry: Sendable, Hashable, CustomStringConvertible {
    /// Which way the line went.
    public enum Direction: String, Sendable, Hashable {
        /// Client to server (`C:`).
        case sent = "C"
        /// Server to client (`S:`).
        case received = "S"
        /// A note of the client's own: a race candidate abandoned, for instance (`*`).
        case note = "*"
    }

    /// The server the line belongs to (`192.0.2.1:25`, `[2001:db8::1]:25`); several
    /// hosts may be raced. Empty when not known.
    public var server: String
    /// Which way the line went.
    public var direction: Direction
    /// The command or reply text (no line end), redacted where needed.
    public var text: String
    /// Time since the session started (the connect call).
    public var elapsed: Duration

    /// A transcript line.
    public init(server: String = "", direction: Direction, text: String, elapsed: Duration = .zero) {
        self.server = server
        self.direction = direction
        self.text = text
        self.elapsed = elapsed
    }

    /// `[192.0.2.1:25] S: 220 mx.example.com ESMTP` (`C:` sent, `S:` received, `*` a note;
    /// without the server part when it is not known).
    public var description: String {
        let tag =
            switch direction {
            case .sent: "C:"
            case .received: "S:"
            case .note: "*"
            }
        return server.isEmpty ? "\(tag) \(text)" : "[\(server)] \(tag) \(text)"
    }
}
