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
    private var pendingLines: [String] = []
    private var pendingBytes = 0
    private var failure: SMTPProtocolError?

    /// An empty parser.
    public init() {}

    /// Bytes received and not yet returned as replies.
    public var bufferedByteCount: Int { buffer.count - start }

    /// `true` when part of a reply has been received (a line, or a partial line).
    public var isInsideReply: Bool { !pendingLines.isEmpty || buffer.count > start }

    /// Appends received bytes.
    public mutating func feed(_ bytes: some Collection<UInt8>) {
        if start > 0, start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
            scanned = 0
        } else if start >= 4096, start * 2 >= buffer.count {
            buffer.removeSubrange(0..<start)
            scanned -= start
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
        while true {
            // Find the next LF.
            let end = buffer.count
            var lf = -1
            buffer.withUnsafeBufferPointer { raw in
                var index = start + scanned
                while index < end {
                    if raw[index] == 0x0A { lf = index; return }
                    index += 1
                }
            }
            if lf < 0 {
                scanned = end - start
                if scanned > Self.maxLineLength {
                    throw SMTPProtocolError(.lineTooLong, "the server sent a line longer than \(Self.maxLineLength) bytes")
                }
                return nil
            }
            let lineStart = start
            let lineLength = lf + 1 - lineStart
            start = lf + 1
            scanned = 0
            if lineLength > Self.maxLineLength {
                throw SMTPProtocolError(.lineTooLong, "the server sent a line longer than \(Self.maxLineLength) bytes")
            }
            pendingBytes += lineLength
            if pendingBytes > Self.maxReplyBytes || pendingLines.count >= Self.maxReplyLines {
                throw SMTPProtocolError(.replyTooLong, "the server sent a reply longer than 64 KiB or 1000 lines")
            }
            if let reply = try line(from: lineStart, to: lf) { return reply }
        }
    }

    /// Handles one line `buffer[from..<lf]`; returns the reply when it was the last line.
    private mutating func line(from: Int, to lf: Int) throws(SMTPProtocolError) -> SMTPReply? {
        try buffer.withUnsafeBufferPointer { raw throws(SMTPProtocolError) -> SMTPReply? in
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
            if !pendingLines.isEmpty, code != pendingCode {
                throw SMTPProtocolError(.mixedCodes, "the server sent a reply whose lines carry different codes (\(pendingCode), \(code))")
            }
            pendingCode = code
            let text = UnsafeBufferPointer(rebasing: raw[textStart..<max(textStart, stop)])
            pendingLines.append(Self.cleanText(text))
            guard isLast else { return nil }
            let reply = Self.makeReply(code: code, lines: pendingLines)
            pendingLines = []
            pendingBytes = 0
            return reply
        }
    }

    /// Printable text: controls to `?`, invalid UTF-8 repaired.
    static func cleanText(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var plain = true
        for byte in bytes where byte < 0x20 || byte >= 0x7F {
            plain = false
            break
        }
        if plain { return String(decoding: bytes, as: UTF8.self) }
        let cleaned = bytes.map { $0 < 0x20 || $0 == 0x7F ? UInt8(ascii: "?") : $0 }
        return String(decoding: cleaned, as: UTF8.self)
    }

    static func makeReply(code: Int, lines: [String]) -> SMTPReply {
        var first = lines[0]
        let enhanced: Int = first.withUTF8 { enhancedCodeLength($0, codeClass: UInt8(code / 100)) }
        guard enhanced > 0 else {
            let text = lines.count == 1 ? lines[0] : lines.joined(separator: "\n")
            return SMTPReply(code: code, enhancedCode: nil, lines: lines, text: text)
        }
        let ec = String(first.utf8.prefix(enhanced))!
        if lines.count == 1 {
            return SMTPReply(code: code, enhancedCode: ec, lines: lines, text: SMTPReply.stripping(ec, from: first))
        }
        let text = lines.map { SMTPReply.stripping(ec, from: $0) }.joined(separator: "\n")
        return SMTPReply(code: code, enhancedCode: ec, lines: lines, text: text)
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
