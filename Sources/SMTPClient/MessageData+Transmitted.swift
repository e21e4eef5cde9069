extension MessageData {
    /// The bytes exactly as ``SMTPSession`` sends them after DATA, before dot-stuffing:
    /// every CR, LF or CRLF made CRLF, lines over 998 bytes broken, the last line ended.
    /// What a DKIM signer must sign; already-normal bytes come back unchanged, so sending
    /// the result changes nothing but the dot-stuffing.
    public func transmittedBytes() -> [UInt8] {
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
}
