#if canImport(Glibc)
import Glibc
#endif

/// An incremental parser of SMTP replies: feed it bytes as they arrive, take complete
/// replies out. Pure (no I/O) and bounded.
///
/// - `code "-" text` continues a reply, `code [SP text]` ends it; every line of a reply
///   must carry the same code (200...599).
/// - A bare LF ends a line as well as CRLF; trailing white space is stripped; bytes
///   below 0x20 (and 0x7F) become `?`; invalid UTF-8 becomes U+FFFD.
/// - Limits: a line of ``maxLineLength`` bytes, a reply of ``maxReplyBytes`` bytes or
///   ``maxReplyLines`` lines. Past them, or on any malformed line, ``next()`` throws an
///   ``SMTPProtocolError`` and keeps throwing it: the stream cannot be resynchronised.
///
/// ```swift
/// var parser = SMTPReplyParser()
/// parser.feed(Array("250-mx.example\r\n250 PIPELINING\r\n".utf8))
/// let reply = try parser.next()    // code 250, lines ["mx.example", "PIPELINING"]
/// ```
public struct SMTPReplyParser: Sendable {
    /// The longest line accepted, line end included.
    public static let maxLineLength = 2048
    /// The largest reply accepted, in bytes.
    public static let maxReplyBytes = 64 * 1024
    /// The most lines one reply may have.
    public static let maxReplyLines = 1000

    private var buffer: [UInt8] = []
    /// Where unparsed bytes start in `buffer`.
    private var start = 0
    /// How far `buffer` has been searched for a line end, from `start`.
    private var scanned = 0
    // The reply being assembled.
    private var pendingCode = 0
    /// Cleaned text of the lines so far, joined with LF.
    private var pendingText: [UInt8] = []
    private var pendingLineCount = 0
    private var firstLineLength = 0
    private var pendingBytes = 0
    private var failure: SMTPProtocolError?

    /// An empty parser.
    public init() {}

    /// Bytes received and not yet returned as replies.
    public var bufferedByteCount: Int { buffer.count - start }

    /// `true` when part of a reply has been received (a line, or a partial line).
    public var isInsideReply: Bool { pendingLineCount > 0 || buffer.count > start }

    /// Appends received bytes.
    public mutating func feed(_ bytes: some Collection<UInt8>) {
        if start > 0, start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
            scanned = 0
        } else if start >= 4096, start * 2 >= buffer.count {
            // `scanned` counts from `start`, so moving `start` does not change it.
            buffer.removeSubrange(0..<start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete reply, or `nil` when more bytes are needed.
    /// - Throws: ``SMTPProtocolError`` on malformed input or past a limit.
    public mutating func next() throws(SMTPProtocolError) -> SMTPReply? {
        if let failure { throw failure }
        do throws(SMTPProtocolError) {
            return try parse()
        } catch {
            failure = error
            throw error
        }
    }

    private mutating func parse() throws(SMTPProtocolError) -> SMTPReply? {
        // A second reference to the storage (no copy): lines are read through it while
        // `self` records them.
        let bytes = buffer
        return try bytes.withUnsafeBufferPointer { raw throws(SMTPProtocolError) -> SMTPReply? in
            guard let base = raw.baseAddress else { return nil }
            let end = raw.count
            while true {
                // Find the next LF.
                let from = start + scanned
                let found = from < end ? memchr(base + from, 0x0A, end - from) : nil
                guard let found else {
                    scanned = end - start
                    if scanned > Self.maxLineLength {
                        throw SMTPProtocolError(.lineTooLong, "the server sent a line longer than \(Self.maxLineLength) bytes")
                    }
                    return nil
                }
                let lf = UnsafeRawPointer(found) - UnsafeRawPointer(base)
                let lineStart = start
                let lineLength = lf + 1 - lineStart
                start = lf + 1
                scanned = 0
                if lineLength > Self.maxLineLength {
                    throw SMTPProtocolError(.lineTooLong, "the server sent a line longer than \(Self.maxLineLength) bytes")
                }
                pendingBytes += lineLength
                if pendingBytes > Self.maxReplyBytes || pendingLineCount >= Self.maxReplyLines {
                    throw SMTPProtocolError(.replyTooLong, "the server sent a reply longer than 64 KiB or 1000 lines")
                }
                if let reply = try line(raw, from: lineStart, to: lf) { return reply }
            }
        }
    }

    /// Handles one line `raw[from..<lf]`; returns the reply when it was the last line.
    private mutating func line(_ raw: UnsafeBufferPointer<UInt8>, from: Int, to lf: Int) throws(SMTPProtocolError) -> SMTPReply? {
        var stop = lf
        // Strip CR and trailing white space.
        while stop > from, raw[stop - 1] == 0x0D || raw[stop - 1] == 0x20 || raw[stop - 1] == 0x09 {
            stop -= 1
        }
        guard stop - from >= 3 else {
            throw SMTPProtocolError(.invalidCode, "the server sent a line without a three-digit code")
        }
        let d0 = raw[from] &- 0x30, d1 = raw[from + 1] &- 0x30, d2 = raw[from + 2] &- 0x30
        guard (2...5).contains(d0), d1 <= 9, d2 <= 9 else {
            throw SMTPProtocolError(.invalidCode, "the server sent a line that does not start with a reply code from 200 to 599")
        }
        let code = Int(d0) * 100 + Int(d1) * 10 + Int(d2)
        var isLast = true
        var textStart = from + 3
        if stop - from > 3 {
            switch raw[from + 3] {
            case 0x20: isLast = true
            case 0x2D: isLast = false
            default:
                throw SMTPProtocolError(.invalidSeparator, "the server sent a reply code not followed by a space or a hyphen")
            }
            textStart = from + 4
        }
        if pendingLineCount > 0, code != pendingCode {
            throw SMTPProtocolError(.mixedCodes, "the server sent a reply whose lines carry different codes (\(pendingCode), \(code))")
        }
        let text = UnsafeBufferPointer(rebasing: raw[textStart..<max(textStart, stop)])
        if isLast && pendingLineCount == 0 && Self.isPlain(text) {
            // The common case: a one-line reply of printable text.
            pendingBytes = 0
            return SMTPReply(code: code, joined: text, firstLineLength: text.count)
        }
        pendingCode = code
        if pendingLineCount > 0 { pendingText.append(0x0A) }
        Self.appendClean(text, to: &pendingText)
        if pendingLineCount == 0 { firstLineLength = pendingText.count }
        pendingLineCount += 1
        guard isLast else { return nil }
        let reply = pendingText.withUnsafeBufferPointer {
            SMTPReply(code: code, joined: $0, firstLineLength: firstLineLength)
        }
        pendingText.removeAll(keepingCapacity: true)
        pendingLineCount = 0
        pendingBytes = 0
        return reply
    }

    /// Whether every byte is printable ASCII (no control, no DEL, no 8-bit byte).
    static func isPlain(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in bytes where byte < 0x20 || byte >= 0x7F { return false }
        return true
    }

    /// Appends the text with control bytes and DEL replaced by `?` (invalid UTF-8 is
    /// repaired when the reply's string is made).
    static func appendClean(_ bytes: UnsafeBufferPointer<UInt8>, to output: inout [UInt8]) {
        if isPlain(bytes) {
            output.append(contentsOf: bytes)
        } else {
            for byte in bytes { output.append(byte < 0x20 || byte == 0x7F ? UInt8(ascii: "?") : byte) }
        }
    }

    /// The length of a leading enhanced status code `class.subject.detail` (RFC 3463)
    /// whose class equals `codeClass`, followed by a space or the end; 0 when there is none.
    static func enhancedCodeLength(_ bytes: some RandomAccessCollection<UInt8>, codeClass: UInt8) -> Int {
        guard bytes.count >= 5, let firstByte = bytes.first else { return 0 }
        guard firstByte == 0x30 + codeClass, codeClass == 2 || codeClass == 4 || codeClass == 5 else { return 0 }
        var index = bytes.index(after: bytes.startIndex)
        var consumed = 1
        for part in 0..<2 {
            guard index != bytes.endIndex, bytes[index] == UInt8(ascii: ".") else { return 0 }
            index = bytes.index(after: index)
            consumed += 1
            var digits = 0
            while index != bytes.endIndex, (0x30...0x39).contains(bytes[index]), digits < 4 {
                index = bytes.index(after: index)
                digits += 1
                consumed += 1
            }
            guard (1...3).contains(digits) else { return 0 }
            _ = part
        }
        guard index == bytes.endIndex || bytes[index] == UInt8(ascii: " ") else { return 0 }
        return consumed
    }
}
