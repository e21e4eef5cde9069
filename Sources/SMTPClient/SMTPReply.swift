/// One server reply, possibly of several lines (RFC 5321 §4.2).
///
/// Decide on ``code`` and ``enhancedCode``, never on the text.
public struct SMTPReply: Sendable, Hashable, CustomStringConvertible {
    /// The three-digit code, 200...599.
    public var code: Int
    /// The RFC 3463 enhanced status code of the first line (`"5.1.1"`), only when its class
    /// digit equals the code's first digit.
    public var enhancedCode: String?
    /// The text of each line, without the code and the separator (enhanced code kept).
    public var lines: [String]
    /// The lines joined with `"\n"`, each without its enhanced code.
    public var text: String

    /// Builds a reply; `text` is derived from `lines` (enhanced codes removed).
    public init(code: Int, lines: [String]) {
        self.code = code
        self.lines = lines
        let first = lines.first.map { Array($0.utf8) } ?? []
        let enhanced = SMTPReplyParser.enhancedCodeLength(first, codeClass: UInt8(code / 100))
        if enhanced > 0 {
            let ec = String(decoding: first[..<enhanced], as: UTF8.self)
            self.enhancedCode = ec
            self.text = lines.map { Self.stripping(ec, from: $0) }.joined(separator: "\n")
        } else {
            self.enhancedCode = nil
            self.text = lines.joined(separator: "\n")
        }
    }

    init(code: Int, enhancedCode: String?, lines: [String], text: String) {
        self.code = code
        self.enhancedCode = enhancedCode
        self.lines = lines
        self.text = text
    }

    /// A one-line reply; `"5.1.1 no such user"` sets the enhanced code too.
    public init(_ code: Int, _ text: String) {
        self.init(code: code, lines: [text])
    }

    static func stripping(_ enhanced: String, from line: String) -> String {
        guard line.hasPrefix(enhanced) else { return line }
        let rest = line.utf8.dropFirst(enhanced.utf8.count)
        if rest.isEmpty { return "" }
        guard rest.first == UInt8(ascii: " ") else { return line }
        return String(decoding: rest.dropFirst(), as: UTF8.self)
    }

    /// 2xx.
    public var isPositive: Bool { (200..<300).contains(code) }
    /// 3xx (354 after DATA, 334 during AUTH).
    public var isIntermediate: Bool { (300..<400).contains(code) }
    /// 4xx: try again later.
    public var isTransient: Bool { (400..<500).contains(code) }
    /// 5xx: do not try again.
    public var isPermanent: Bool { (500..<600).contains(code) }

    /// The wire form's first line, e.g. `550 5.1.1 no such user` (more lines with " / ").
    public var description: String {
        lines.isEmpty ? "\(code)" : "\(code) " + lines.joined(separator: " / ")
    }
}
