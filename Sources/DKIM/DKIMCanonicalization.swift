/// The relaxed canonicalization of RFC 6376 §3.4.2 (header fields) and §3.4.4 (body):
/// pure functions over bytes, shared by signing and by anything that checks a signature.
public enum DKIMCanonicalization {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A

    /// One header field, relaxed (§3.4.2): the name lower-cased, line folds removed, every
    /// run of white space one space, white space at the end of the value and around the
    /// colon removed. `field` is the whole field as it appears in the message (name, colon,
    /// value, inner CRLFs), without its final CRLF; the result has no CRLF either.
    public static func relaxedHeader(_ field: some Collection<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(field.count)
        var iterator = field.makeIterator()
        // The name: up to the colon, lower-cased, white space after it dropped.
        var sawColon = false
        while let byte = iterator.next() {
            if byte == colon {
                sawColon = true
                break
            }
            if byte == space || byte == tab || byte == cr || byte == lf { continue }
            output.append(byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte)
        }
        guard sawColon else { return output }
        output.append(colon)
        // The value: unfolded, white space runs as one space, none at either end.
        var pendingSpace = false
        var started = false
        while let byte = iterator.next() {
            switch byte {
            case cr, lf:
                continue
            case space, tab:
                pendingSpace = started
            default:
                if pendingSpace { output.append(space) }
                pendingSpace = false
                started = true
                output.append(byte)
            }
        }
        return output
    }

    /// A body, relaxed (§3.4.4): white space at the end of each line removed, every other
    /// run of white space one space, every empty line at the end removed, and a CRLF added
    /// to a last line that lacks one. An empty body (or one of empty lines only) is empty.
    /// Lines end with CRLF (as sent); a bare LF is taken as a line end too.
    public static func relaxedBody(_ body: some Collection<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(body.count + 2)
        var pendingSpace = false
        var lineHasContent = false
        var emptyLines = 0
        func endLine() {
            if lineHasContent {
                for _ in 0..<emptyLines { output.append(contentsOf: [cr, lf]) }
                emptyLines = 0
                output.append(contentsOf: [cr, lf])
            } else {
                emptyLines += 1
            }
            pendingSpace = false
            lineHasContent = false
        }
        func appendText(_ byte: UInt8) {
            if !lineHasContent {
                for _ in 0..<emptyLines { output.append(contentsOf: [cr, lf]) }
                emptyLines = 0
            }
            if pendingSpace { output.append(space) }
            pendingSpace = false
            lineHasContent = true
            output.append(byte)
        }
        var previousWasCR = false
        for byte in body {
            switch byte {
            case lf:
                endLine()
                previousWasCR = false
                continue
            case cr:
                // A CR is part of the line end that follows; a lone CR stays text.
                if previousWasCR { appendText(cr) }
                previousWasCR = true
                continue
            default:
                if previousWasCR { appendText(cr) }
                previousWasCR = false
            }
            if byte == space || byte == tab {
                pendingSpace = true
            } else {
                appendText(byte)
            }
        }
        if previousWasCR { appendText(cr) }
        // A last line without a line end gets one; trailing blanks on it are dropped.
        if lineHasContent { endLine() }
        return output
    }
}
