/// A message's content as DATA sends it, in chunks of at most 64 KiB of input:
/// CRLF-normalised, dot-stuffed, the last chunk ending with `CRLF . CRLF`. A value, so a
/// session interrupted between two chunks keeps its place.
struct SMTPMessageChunker: Sendable {
    static let chunkSize = 64 * 1024

    /// The raw message.
    let source: [UInt8]
    private var stuffer = SMTPDataStuffer()
    private var offset = 0
    /// `true` once the last chunk (with the terminating dot) was handed out.
    private(set) var isDone = false

    init(_ source: [UInt8]) {
        self.source = source
    }

    /// Replaces `chunk`'s contents with the next chunk (keeping its capacity). An empty
    /// message is one chunk: the terminating dot.
    mutating func next(into chunk: inout [UInt8]) {
        precondition(!isDone, "the message was handed out whole already")
        chunk.removeAll(keepingCapacity: true)
        let end = min(offset + Self.chunkSize, source.count)
        stuffer.encode(source[offset..<end], into: &chunk)
        offset = end
        if offset == source.count {
            stuffer.finish(into: &chunk)
            isDone = true
        }
    }
}
