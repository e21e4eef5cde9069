/// Turns message bytes into DATA content as they are streamed: every CR, LF or CRLF
/// becomes CRLF (no bare CR or LF ever leaves, RFC 5321 §2.3.8, the defence against SMTP
/// smuggling), a line starting with `.` gets a second one (§4.5.2), and ``finish(into:)``
/// ends the last line and appends `.CRLF`.
///
/// A line longer than ``maxLineLength`` bytes (RFC 5322 §2.1.1; RFC 5321 §4.5.3.1.6, the
/// transparency dot not counted) is broken by inserting CRLF SP, as Postfix's
/// `smtp_line_length_limit` does: a continuation for a header, one extra space in a body.
/// ``Message`` never produces such lines; only a hand-made ``MessageData`` can.
struct SMTPDataStuffer {
    /// The longest line sent, without its CRLF.
    static let maxLineLength = 998

    private var atLineStart = true
    private var lastWasCR = false
    /// Bytes of the current line so far (the transparency dot not counted).
    private var column = 0

    /// Encodes `input`, appending to `output`. Can be called chunk after chunk.
    mutating func encode(_ input: ArraySlice<UInt8>, into output: inout [UInt8]) {
        output.reserveCapacity(output.count + input.count + input.count / 32 + 8)
        var atLineStart = self.atLineStart
        var lastWasCR = self.lastWasCR
        var column = self.column
        input.withUnsafeBufferPointer { raw in
            var index = 0
            while index < raw.count {
                switch raw[index] {
                case 0x0D:
                    output.append(0x0D)
                    output.append(0x0A)
                    atLineStart = true
                    lastWasCR = true
                    column = 0
                    index += 1
                case 0x0A:
                    if !lastWasCR {
                        output.append(0x0D)
                        output.append(0x0A)
                    }
                    atLineStart = true
                    lastWasCR = false
                    column = 0
                    index += 1
                default:
                    if column >= Self.maxLineLength {
                        // CRLF SP: the new line starts with a space, so never with a dot.
                        output.append(0x0D)
                        output.append(0x0A)
                        output.append(0x20)
                        column = 1
                    }
                    if atLineStart && raw[index] == 0x2E { output.append(0x2E) }
                    // The rest of the run up to a CR or LF, or the line's limit, in one copy.
                    let limit = min(raw.count, index + Self.maxLineLength - column)
                    var end = index + 1
                    while end < limit, raw[end] != 0x0D, raw[end] != 0x0A { end += 1 }
                    output.append(contentsOf: UnsafeBufferPointer(rebasing: raw[index..<end]))
                    atLineStart = false
                    lastWasCR = false
                    column += end - index
                    index = end
                }
            }
        }
        self.atLineStart = atLineStart
        self.lastWasCR = lastWasCR
        self.column = column
    }

    /// Ends the last line if needed and appends the terminating `.CRLF`.
    mutating func finish(into output: inout [UInt8]) {
        if !atLineStart {
            output.append(0x0D)
            output.append(0x0A)
        }
        output.append(contentsOf: [0x2E, 0x0D, 0x0A])
        atLineStart = true
        lastWasCR = false
        column = 0
    }
}
