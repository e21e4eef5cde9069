#if canImport(Glibc)
import Glibc
#endif

/// One server reply, possibly of several lines (RFC 5321 §4.2).
///
/// Decide on ``code`` and ``enhancedCode``, never on the text.
///
/// The lines are stored joined (one allocation per reply, however many lines it has), so
/// parsing a long EHLO reply stays cheap; ``lines`` splits them on demand.
public struct SMTPReply: Sendable, Hashable, CustomStringConvertible {
    /// The three-digit code, 200...599.
    public var code: Int
    /// The RFC 3463 enhanced status code of the first line (`"5.1.1"`), only when its class
    /// digit equals the code's first digit.
    public var enhancedCode: String?
    /// The lines joined with `"\n"`, each without its enhanced code.
    public var text: String
    /// The lines joined with `"\n"`, enhanced codes kept.
    private var joinedLines: String

    /// The text of each line, without the code and the separator (enhanced code kept).
    /// Setting it re-derives ``text`` and ``enhancedCode``.
    public var lines: [String] {
        get {
            var result: [String] = []
            forEachLine { result.append(String(decoding: $0, as: UTF8.self)) }
            return result
        }
        set { self = SMTPReply(code: code, lines: newValue) }
    }

    /// Calls `body` with the UTF-8 bytes of each line, in order (what ``lines`` holds,
    /// without making an array of strings): for readers that need each line once.
    func forEachLine(_ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        var joined = joinedLines
        joined.withUTF8 { bytes in
            var lineStart = 0
            if let base = bytes.baseAddress {
                // memchr: an EHLO reply is read this way several times per session.
                while let found = memchr(base + lineStart, 0x0A, bytes.count - lineStart) {
                    let lineFeed = UnsafeRawPointer(found) - UnsafeRawPointer(base)
                    body(UnsafeBufferPointer(rebasing: bytes[lineStart..<lineFeed]))
                    lineStart = lineFeed + 1
                }
            }
            body(UnsafeBufferPointer(rebasing: bytes[lineStart...]))
        }
    }

    /// How many lines the reply has (at least one).
    var lineCount: Int {
        var joined = joinedLines
        return joined.withUTF8 { bytes in bytes.reduce(1) { $1 == 0x0A ? $0 + 1 : $0 } }
    }

    /// Each line as a transcript shows it: the code, a space, the line (`250 PIPELINING`),
    /// then `suffix`; each string made in one step from the stored bytes.
    func forEachTranscriptLine(suffix: String = "", _ body: (String) -> Void) {
        let code = self.code
        let codeDigits = (100...999).contains(code)
        let codeText = codeDigits ? "" : String(code)
        forEachLine { line in
            let length = (codeDigits ? 3 : codeText.utf8.count) + 1 + line.count + suffix.utf8.count
            body(String(unsafeUninitializedCapacity: length) { output in
                var index = 0
                func put(_ byte: UInt8) {
                    output[index] = byte
                    index += 1
                }
                if codeDigits {
                    put(0x30 + UInt8(code / 100))
                    put(0x30 + UInt8(code / 10 % 10))
                    put(0x30 + UInt8(code % 10))
                } else {
                    for byte in codeText.utf8 { put(byte) }
                }
                put(0x20)
                if let source = line.baseAddress, let target = output.baseAddress {
                    (target + index).initialize(from: source, count: line.count)
                    index += line.count
                }
                for byte in suffix.utf8 { put(byte) }
                return index
            })
        }
    }

    /// Builds a reply; ``text`` and ``enhancedCode`` are derived from `lines`.
    public init(code: Int, lines: [String]) {
        let cleaned = lines.isEmpty ? [""] : lines.map { line in
            String(decoding: line.utf8.map { $0 < 0x20 || $0 == 0x7F ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
        }
        var bytes: [UInt8] = []
        for (index, line) in cleaned.enumerated() {
            if index > 0 { bytes.append(0x0A) }
            bytes.append(contentsOf: line.utf8)
        }
        self = bytes.withUnsafeBufferPointer { SMTPReply(code: code, joined: $0, firstLineLength: cleaned[0].utf8.count) }
    }

    /// A one-line reply; `"5.1.1 no such user"` sets the enhanced code too.
    public init(_ code: Int, _ text: String) {
        self.init(code: code, lines: [text])
    }

    /// From cleaned line texts joined with LF (the parser's path: one pass, few allocations).
    init(code: Int, joined: UnsafeBufferPointer<UInt8>, firstLineLength: Int) {
        self.code = code
        let all = String(decoding: joined, as: UTF8.self)
        self.joinedLines = all
        // A hand-built reply may carry any code: only 2xx, 4xx and 5xx can have an
        // enhanced code, and converting an out-of-range class to UInt8 would trap.
        let codeClass: UInt8 = (200...599).contains(code) ? UInt8(code / 100) : 0
        let enhanced = SMTPReplyParser.enhancedCodeLength(
            UnsafeBufferPointer(rebasing: joined[0..<firstLineLength]), codeClass: codeClass)
        guard enhanced > 0 else {
            self.enhancedCode = nil
            self.text = all
            return
        }
        let ec = UnsafeBufferPointer(rebasing: joined[0..<enhanced])
        self.enhancedCode = String(decoding: ec, as: UTF8.self)
        // Drop "ec" or "ec " at the start of every line that carries it, writing the
        // text straight into its string (it is never longer than the joined lines).
        self.text = String(unsafeUninitializedCapacity: joined.count) { output in
            var count = 0
            var lineStart = 0
            while lineStart <= joined.count {
                var lineEnd = lineStart
                while lineEnd < joined.count, joined[lineEnd] != 0x0A { lineEnd += 1 }
                var from = lineStart
                if lineEnd - lineStart >= enhanced,
                   joined[lineStart..<(lineStart + enhanced)].elementsEqual(ec),
                   lineStart + enhanced == lineEnd || joined[lineStart + enhanced] == 0x20 {
                    from = min(lineEnd, lineStart + enhanced + 1)
                }
                if lineStart > 0 {
                    output[count] = 0x0A
                    count += 1
                }
                let line = UnsafeBufferPointer(rebasing: joined[from..<lineEnd])
                if let source = line.baseAddress, let target = output.baseAddress {
                    (target + count).initialize(from: source, count: line.count)
                    count += line.count
                }
                lineStart = lineEnd + 1
            }
            return count
        }
    }

    /// 2xx.
    public var isPositive: Bool { (200..<300).contains(code) }
    /// 3xx (354 after DATA, 334 during AUTH).
    public var isIntermediate: Bool { (300..<400).contains(code) }
    /// 4xx: try again later.
    public var isTransient: Bool { (400..<500).contains(code) }
    /// 5xx: do not try again.
    public var isPermanent: Bool { (500..<600).contains(code) }

    /// The server demands TLS: `530` (RFC 3207: "Must issue a STARTTLS command first"),
    /// enhanced code x.7.10 ("encryption needed", RFC 5248) or x.7.29 (Gmail's "TLS
    /// required"), or `421 4.7.0` whose text names TLS (Gmail: "TLS required for RCPT
    /// domain"; 4.7.0 alone is any security reason, so only there the text decides).
    public var demandsTLS: Bool {
        if code == 530 { return true }
        if let enhancedCode, enhancedCode.hasSuffix(".7.10") || enhancedCode.hasSuffix(".7.29") { return true }
        if code == 421, enhancedCode == "4.7.0" { return text.uppercased().contains("TLS") }
        return false
    }

    /// The reply on one line, e.g. `550 5.1.1 no such user` (several lines with " / ").
    public var description: String {
        joinedLines.isEmpty ? "\(code)" : "\(code) " + lines.joined(separator: " / ")
    }
}
