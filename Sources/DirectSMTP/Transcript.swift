import SMTPClient

/// An outcome's transcript as stored: lines made already (notes, other hosts), then one
/// session's own entries, turned into ``TranscriptLine``s only when read.
///
/// Most callers never read a transcript, and a send's session records about twenty
/// lines: converting them on every call cost an array and two reference counts per line.
/// Equality and hashing are those of the lines read, however they are stored.
struct Transcript: Sendable {
    /// Lines made already; they come first.
    private var lines: [TranscriptLine]
    /// The session entries that follow them, and the server they belong to.
    private var session: (server: String, entries: [TranscriptEntry])?

    /// A transcript of lines made already.
    init(_ lines: [TranscriptLine] = []) {
        self.lines = lines
    }

    /// A session's entries, converted when read.
    init(server: String, entries: [TranscriptEntry]) {
        self.lines = []
        self.session = entries.isEmpty ? nil : (server, entries)
    }

    /// Every line, in order.
    var all: [TranscriptLine] {
        guard let session else { return lines }
        return lines + Self.convert(session.entries, server: session.server)
    }

    var isEmpty: Bool { lines.isEmpty && session == nil }

    /// Appends one line after everything so far.
    mutating func append(_ line: TranscriptLine) {
        materialize()
        lines.append(line)
    }

    /// Appends `other` after everything so far (its session part stays lazy).
    static func += (transcript: inout Transcript, other: Transcript) {
        if other.isEmpty { return }
        if transcript.isEmpty {
            transcript = other
            return
        }
        transcript.materialize()
        transcript.lines += other.lines
        transcript.session = other.session
    }

    /// Turns the session part into lines, so that lines can follow it.
    private mutating func materialize() {
        guard let session else { return }
        lines += Self.convert(session.entries, server: session.server)
        self.session = nil
    }

    private static func convert(_ entries: [TranscriptEntry], server: String) -> [TranscriptLine] {
        entries.map { entry in
            TranscriptLine(
                server: server, direction: entry.direction == .sent ? .client : .server,
                text: entry.text)
        }
    }
}

extension Transcript: Hashable {
    static func == (left: Transcript, right: Transcript) -> Bool { left.all == right.all }

    func hash(into hasher: inout Hasher) { hasher.combine(all) }
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
