/// One line of a session's transcript: what was sent or received, and when. AUTH data
/// appears as `<redacted>`; a message body as a byte count.
public struct TranscriptEntry: Sendable, Hashable, CustomStringConvertible {
    /// Which way the line went.
    public enum Direction: String, Sendable, Hashable {
        /// Client to server.
        case sent = "C"
        /// Server to client.
        case received = "S"
    }

    /// Which way the line went.
    public var direction: Direction
    /// The command or reply text (no line end), redacted where needed.
    public var text: String
    /// Time since the session started (the connect call).
    public var elapsed: Duration

    /// A transcript line.
    public init(direction: Direction, text: String, elapsed: Duration) {
        self.direction = direction
        self.text = text
        self.elapsed = elapsed
    }

    public var description: String { "\(direction.rawValue): \(text)" }
}
