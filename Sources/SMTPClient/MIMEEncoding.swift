/// The small MIME encoders the message composer needs: line-end normalisation,
/// quoted-printable (RFC 2045 §6.7), RFC 2047 encoded words, header folding.
enum MIMEEncoding {
    static let crlf: [UInt8] = [0x0D, 0x0A]

    /// A text's lines, split on CRLF, a bare CR or a bare LF (a final line end does not
    /// make an empty last line): calls `body` with each, without its line end. No table of
    /// lines is built: a 30 MB body costs nothing beyond the message being composed.
    static func forEachLine(
        _ bytes: UnsafeBufferPointer<UInt8>, _ body: (Slice<UnsafeBufferPointer<UInt8>>) -> Void
    ) {
        var lineStart = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x0D || byte == 0x0A {
                body(bytes[lineStart..<index])
                if byte == 0x0D, index + 1 < bytes.count, bytes[index + 1] == 0x0A { index += 1 }
                lineStart = index + 1
            }
            index += 1
        }
        if lineStart < bytes.count { body(bytes[lineStart...]) }
    }

    /// How a body part travels.
    enum TransferEncoding: String {
        case sevenBit = "7bit", eightBit = "8bit", quotedPrintable = "quoted-printable"
    }

    /// Picks the encoding for `text`'s lines: 7bit for ASCII with lines ≤ 998, 8bit for
    /// UTF-8 with lines ≤ 998 when allowed, quoted-printable otherwise.
    static func transferEncoding(for text: UnsafeBufferPointer<UInt8>, allow8Bit: Bool) -> TransferEncoding {
        var ascii = true
        var short = true
        var nul = false
        forEachLine(text) { line in
            if line.count > 998 { short = false }
            if ascii, line.contains(where: { $0 >= 0x80 }) { ascii = false }
            if !nul, line.contains(0) { nul = true }
        }
        if ascii && short && !nul { return .sevenBit }
        if allow8Bit && short && !nul { return .eightBit }
        return .quotedPrintable
    }

    /// Appends `text`'s lines with CRLF after each, encoded as `encoding`.
    static func appendBody(_ text: UnsafeBufferPointer<UInt8>, _ encoding: TransferEncoding, to output: inout [UInt8]) {
        switch encoding {
        case .sevenBit, .eightBit:
            forEachLine(text) { line in
                output.append(contentsOf: line)
                output.append(contentsOf: crlf)
            }
        case .quotedPrintable:
            forEachLine(text) { line in appendQuotedPrintable(line, to: &output) }
        }
    }

    private static let hex = Array("0123456789ABCDEF".utf8)

    /// One text line as quoted-printable: encoded lines of at most 76 characters joined by
    /// soft line breaks, then CRLF.
    static func appendQuotedPrintable(_ line: Slice<UnsafeBufferPointer<UInt8>>, to output: inout [UInt8]) {
        var column = 0
        var index = line.startIndex
        while index < line.endIndex {
            let byte = line[index]
            let isLast = index == line.index(before: line.endIndex)
            var piece: [UInt8]
            if (byte == 0x20 || byte == 0x09) && !isLast {
                piece = [byte]
            } else if byte >= 33 && byte <= 126 && byte != UInt8(ascii: "=")
                        && !(column == 0 && byte == UInt8(ascii: ".")) {
                piece = [byte]
            } else {
                piece = [UInt8(ascii: "="), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
            // Keep UTF-8 sequences on one encoded line where possible: break before a
            // lead byte when the whole sequence would not fit.
            var needed = piece.count
            if byte >= 0xC0 {
                let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : 2
                needed = 3 * length
            }
            if column + needed > 75 {
                output.append(UInt8(ascii: "="))
                output.append(contentsOf: crlf)
                column = 0
                if byte == UInt8(ascii: ".") { piece = [UInt8(ascii: "="), hex[2], hex[14]] }
            }
            output.append(contentsOf: piece)
            column += piece.count
            index += 1
        }
        output.append(contentsOf: crlf)
    }

    /// A header value for `text`: unchanged (folded) when ASCII, else RFC 2047 encoded words
    /// in UTF-8/base64, each at most 75 characters, on lines folded with CRLF SP.
    /// CR and LF in the text become spaces: a header value can never start a new header.
    static func headerValue(_ text: String, nameLength: Int) -> String {
        // Most values need nothing: ASCII without CR, LF or NUL that fits on the line.
        let needsCleaning = text.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 }
        let isASCII = text.utf8.allSatisfy { $0 < 0x80 }
        if !needsCleaning, isASCII, nameLength + 2 + text.utf8.count <= 78 { return text }
        let cleaned = String(decoding: text.utf8.map { $0 == 0x0D || $0 == 0x0A ? 0x20 : ($0 == 0 ? UInt8(ascii: "?") : $0) }, as: UTF8.self)
        if isASCII {
            let folded = foldASCII(cleaned, firstLineUsed: nameLength + 2)
            // A word too long to fold (no spaces) would break the 998 limit: encode it.
            let longest = folded.utf8.split(separator: 0x0A).map(\.count).max() ?? 0
            if nameLength + 2 + longest <= 998 { return folded }
        }
        return encodedWords(cleaned, firstLineUsed: nameLength + 2)
    }

    /// RFC 2047 `=?UTF-8?B?...?=` words, split on character boundaries, folded.
    static func encodedWords(_ text: String, firstLineUsed: Int) -> String {
        var words: [String] = []
        var chunk: [UInt8] = []
        // A line holding encoded words is at most 76 characters (RFC 2047 §2), the first
        // line included: its word gets what "Name: " leaves (whole base64 groups).
        let firstRoom = (76 - firstLineUsed - 12) / 4 * 3
        var limit = max(firstRoom, 3)
        // 75 - len("=?UTF-8?B??=") = 63 base64 characters = 45 bytes of text (as 15 groups).
        // Split between Unicode scalars, not Characters: a grapheme cluster can be any
        // length (combining marks, emoji sequences), a scalar is at most 4 bytes, and
        // RFC 2047 §5 only forbids splitting an encoded character.
        for scalar in text.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if chunk.count + bytes.count > min(limit, 45), !chunk.isEmpty {
                words.append("=?UTF-8?B?\(Base64.encode(chunk))?=")
                chunk = []
                limit = 45
            }
            chunk.append(contentsOf: bytes)
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?\(Base64.encode(chunk))?=") }
        var result = ""
        var column = firstLineUsed
        for (index, word) in words.enumerated() {
            if index > 0 {
                if column + 1 + word.utf8.count > 76 {
                    result += "\r\n "
                    column = 1
                } else {
                    result += " "
                    column += 1
                }
            }
            result += word
            column += word.utf8.count
        }
        return result
    }

    /// Folds ASCII text at spaces so lines stay near 78 characters (and always ≤ 998 when
    /// there are spaces to fold at).
    static func foldASCII(_ text: String, firstLineUsed: Int) -> String {
        guard firstLineUsed + text.utf8.count > 78 else { return text }
        var result = ""
        var column = firstLineUsed
        var first = true
        for word in text.split(separator: " ", omittingEmptySubsequences: false) {
            if first {
                result += word
                column += word.utf8.count
                first = false
                continue
            }
            // Never fold before an empty word (a run of spaces): a folded line made of
            // white space only is forbidden (RFC 5322 §3.2.2) and some parsers take it
            // for the blank line that ends the header.
            if column + 1 + word.utf8.count > 78, column > 1, !word.isEmpty {
                result += "\r\n " + word
                column = 1 + word.utf8.count
            } else {
                result += " " + word
                column += 1 + word.utf8.count
            }
        }
        return result
    }

    /// A display name as a phrase: atoms unchanged, quoted when it has specials,
    /// encoded words when it is not ASCII.
    static func displayName(_ name: String, nameLength: Int) -> String {
        let cleaned = String(decoding: name.utf8.map { $0 < 0x20 ? 0x20 : $0 }, as: UTF8.self)
        if !cleaned.utf8.allSatisfy({ $0 < 0x80 }) {
            return encodedWords(cleaned, firstLineUsed: nameLength + 2)
        }
        let plain = cleaned.utf8.allSatisfy { EmailAddress.isAtext($0) || $0 == 0x20 }
        var phrase = cleaned
        if !plain {
            phrase = "\""
            for scalar in cleaned.unicodeScalars {
                if scalar == "\"" || scalar == "\\" { phrase += "\\" }
                phrase.unicodeScalars.append(scalar)
            }
            phrase += "\""
        }
        // The phrase is written unfolded, and the address (up to 254 bytes) follows it on
        // the same line: past this length the line could exceed 998 bytes, so use
        // encoded words, which fold.
        if nameLength + 2 + phrase.utf8.count > maxUnfoldedPhrase {
            return encodedWords(cleaned, firstLineUsed: nameLength + 2)
        }
        return phrase
    }

    /// The longest display name written as is (998 - 254 for the address - a margin).
    static let maxUnfoldedPhrase = 700
}
