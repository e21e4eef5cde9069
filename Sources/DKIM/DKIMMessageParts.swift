/// A message split the way RFC 6376 reads it: header fields (each with its folds, without
/// its final CRLF) and the body after the first empty line. Pure; no copy of the body.
struct DKIMMessageParts {
    /// One header field as it stands in the message.
    struct Field {
        /// The name, lower-cased (`from`), for matching `h=`.
        var name: String
        /// The whole field: name, colon, value with its inner CRLFs; no final CRLF.
        var raw: ArraySlice<UInt8>
    }

    var fields: [Field] = []
    /// The body: what follows the CRLF CRLF that ends the header (empty when none).
    var body: ArraySlice<UInt8>

    /// Splits `message` (CRLF line ends, as sent).
    init(_ message: [UInt8]) {
        var index = message.startIndex
        var fieldStart: Int?
        body = message[message.endIndex...]
        func close(_ end: Int) {
            guard let start = fieldStart else { return }
            let raw = message[start..<end]
            let nameEnd = raw.firstIndex(of: 0x3A) ?? raw.endIndex
            let name = String(decoding: raw[start..<nameEnd], as: UTF8.self)
                .trimmingWhiteSpace().lowercased()
            fields.append(Field(name: name, raw: raw))
            fieldStart = nil
        }
        while index < message.endIndex {
            let lineEnd = Self.lineEnd(message, from: index)
            let next = min(lineEnd + 2, message.endIndex)
            if lineEnd == index {
                // The empty line: the header ends, the body begins after it.
                close(index - 2)
                body = message[next...]
                return
            }
            let first = message[index]
            if (first == 0x20 || first == 0x09), fieldStart != nil {
                // A continuation line of the current field.
            } else {
                close(index - 2)
                fieldStart = index
            }
            if lineEnd >= message.endIndex {
                close(message.endIndex)
                return
            }
            index = next
        }
        close(max(message.endIndex - 2, fieldStart ?? 0))
    }

    /// The index of the CR of the next CRLF at or after `start`, or the end.
    static func lineEnd(_ bytes: [UInt8], from start: Int) -> Int {
        var index = start
        while index + 1 < bytes.endIndex {
            if bytes[index] == 0x0D && bytes[index + 1] == 0x0A { return index }
            index += 1
        }
        return bytes.endIndex
    }

    /// The fields that `names` select (RFC 6376 §5.4.2): each occurrence of a name takes
    /// the next instance of that field from the bottom up; a name with no instance left
    /// selects nothing (which is how an extra `from` guards against an added From).
    func select(_ names: [String]) -> [Field] {
        var used: [String: Int] = [:]
        var selected: [Field] = []
        for name in names {
            let instances = fields.filter { $0.name == name }
            let taken = used[name, default: 0]
            if taken < instances.count {
                selected.append(instances[instances.count - 1 - taken])
            }
            used[name] = taken + 1
        }
        return selected
    }
}

extension String {
    func trimmingWhiteSpace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}
