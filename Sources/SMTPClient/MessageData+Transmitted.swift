extension MessageData {
    /// The bytes exactly as ``SMTPSession`` sends them after DATA, before dot-stuffing:
    /// every CR, LF or CRLF made CRLF, lines over 998 bytes broken, the last line ended.
    /// What a DKIM signer must sign; already-normal bytes come back unchanged, so sending
    /// the result changes nothing but the dot-stuffing.
    public func transmittedBytes() -> [UInt8] {
        if let unchanged = Self.alreadyTransmittable(bytes) { return unchanged }
        var stuffer = SMTPDataStuffer()
        var stuffed: [UInt8] = []
        stuffer.encode(bytes[...], into: &stuffed)
        stuffer.finish(into: &stuffed)
        // Undo what only the wire needs: the final ".CRLF" and the dot doubled at the
        // start of a line (the stuffer adds one to every line that starts with a dot).
        stuffed.removeLast(3)
        var output: [UInt8] = []
        output.reserveCapacity(stuffed.count)
        var atLineStart = true
        for byte in stuffed {
            if atLineStart && byte == 0x2E {
                atLineStart = false
                continue
            }
            output.append(byte)
            atLineStart = byte == 0x0A
        }
        return output
    }

    /// `bytes` (with a final CRLF added when missing) when every line already ends with
    /// CRLF and none is longer than 998 bytes, as ``Message/encoded()`` composes them:
    /// one scan instead of an encode and decode (a tenth of a DKIM signature's cost in
    /// `directsmtp-bench dkim`); `nil` when the bytes need the stuffer's normalization.
    static func alreadyTransmittable(_ bytes: [UInt8]) -> [UInt8]? {
        var column = 0
        var index = 0
        let count = bytes.count
        while index < count {
            let byte = bytes[index]
            if byte == 0x0D {
                guard index + 1 < count, bytes[index + 1] == 0x0A else { return nil }
                index += 2
                column = 0
                continue
            }
            if byte == 0x0A { return nil }
            column += 1
            if column > SMTPDataStuffer.maxLineLength { return nil }
            index += 1
        }
        if column == 0 { return bytes }
        return bytes + [0x0D, 0x0A]
    }
}
