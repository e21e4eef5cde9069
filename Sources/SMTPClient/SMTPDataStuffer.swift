/// Turns message bytes into DATA content as they are streamed: every CR, LF or CRLF
/// becomes CRLF (no bare CR or LF ever leaves, RFC 5321 §2.3.8, the defence against SMTP
/// smuggling), a line starting with `.` gets a second one (§4.5.2), and ``finish(into:)``
/// ends the last line and appends `.CRLF`.
struct SMTPDataStuffer {
    private var atLineStart = true
    private var lastWasCR = false

    /// Encodes `input`, appending to `output`. Can be called chunk after chunk.
    mutating func encode(_ input: ArraySlice<UInt8>, into output: inout [UInt8]) {
        output.reserveCapacity(output.count + input.count + input.count / 32 + 8)
        var atLineStart = self.atLineStart
        var lastWasCR = self.lastWasCR
        input.withUnsafeBufferPointer { raw in
            for byte in raw {
                switch byte {
                case 0x0D:
                    output.append(0x0D)
                    output.append(0x0A)
                    atLineStart = true
                    lastWasCR = true
                case 0x0A:
                    if !lastWasCR {
                        output.append(0x0D)
                        output.append(0x0A)
                    }
                    atLineStart = true
                    lastWasCR = false
                default:
                    if atLineStart && byte == 0x2E { output.append(0x2E) }
                    output.append(byte)
                    atLineStart = false
                    lastWasCR = false
                }
            }
        }
        self.atLineStart = atLineStart
        self.lastWasCR = lastWasCR
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
    }
}
