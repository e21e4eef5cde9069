/// A domain name in a compact form: its uncompressed wire labels (`len bytes len bytes...`,
/// without the final root byte), ASCII lower-cased, so equality and hashing ignore case as
/// DNS does. At most 255 bytes on the wire, labels at most 63.
///
/// ```swift
/// let name = try DNSName("Mail.Example.COM.")
/// name.description   // "mail.example.com"
/// ```
public struct DNSName: Sendable, Hashable, CustomStringConvertible {
    /// The labels, each prefixed with its length, lower-cased; empty for the root.
    public let labels: [UInt8]

    /// The root name `.` (an MX target of `.` is a null MX, RFC 7505).
    public static let root = DNSName(uncheckedLabels: [])

    /// Wraps labels that are already validated and lower-cased.
    init(uncheckedLabels labels: [UInt8]) { self.labels = labels }

    /// Parses dotted text: `example.com`, `example.com.`, `.` (root). Letters are
    /// lower-cased; any other byte is kept (no escapes are interpreted).
    /// - Throws: ``DNSWireError/Code/emptyLabel``, ``DNSWireError/Code/labelTooLong`` or
    ///   ``DNSWireError/Code/nameTooLong``.
    public init(_ text: String) throws(DNSWireError) {
        var utf8 = Array(text.utf8)
        if utf8 == [UInt8(ascii: ".")] {
            self = .root
            return
        }
        if utf8.last == UInt8(ascii: ".") { utf8.removeLast() }
        guard !utf8.isEmpty else {
            throw DNSWireError(.emptyLabel, at: 0, "an empty string is not a domain name")
        }
        var labels: [UInt8] = []
        labels.reserveCapacity(utf8.count + 1)
        var start = 0
        while start <= utf8.count {
            var end = start
            while end < utf8.count, utf8[end] != UInt8(ascii: ".") { end += 1 }
            let length = end - start
            guard length > 0 else {
                throw DNSWireError(.emptyLabel, at: start, "'\(text)' has an empty label")
            }
            guard length <= 63 else {
                throw DNSWireError(
                    .labelTooLong, at: start,
                    "'\(text)' has a label of \(length) bytes (at most 63)")
            }
            labels.append(UInt8(length))
            for index in start..<end { labels.append(lowercased(utf8[index])) }
            start = end + 1
        }
        guard labels.count + 1 <= 255 else {
            throw DNSWireError(
                .nameTooLong, at: 0,
                "'\(text)' is \(labels.count + 1) bytes on the wire (at most 255)")
        }
        self.labels = labels
    }

    /// `true` for `.`.
    public var isRoot: Bool { labels.isEmpty }

    /// The length on the wire, uncompressed, root byte included.
    public var wireLength: Int { labels.count + 1 }

    /// The labels as byte slices.
    public var labelSlices: [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        var index = 0
        while index < labels.count {
            let length = Int(labels[index])
            result.append(labels[(index + 1)..<(index + 1 + length)])
            index += 1 + length
        }
        return result
    }

    /// Dotted text without the final dot (`.` for the root). Dots inside a label and
    /// bytes outside printable ASCII are escaped (`\.`, `\DDD`), as in zone files.
    public var description: String {
        guard !labels.isEmpty else { return "." }
        var text: [UInt8] = []
        text.reserveCapacity(labels.count)
        var index = 0
        while index < labels.count {
            let length = Int(labels[index])
            if index > 0 { text.append(UInt8(ascii: ".")) }
            for byte in labels[(index + 1)..<(index + 1 + length)] {
                if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "\\") {
                    text.append(UInt8(ascii: "\\"))
                    text.append(byte)
                } else if byte <= 0x20 || byte >= 0x7F {
                    text.append(UInt8(ascii: "\\"))
                    text.append(UInt8(ascii: "0") + byte / 100)
                    text.append(UInt8(ascii: "0") + (byte / 10) % 10)
                    text.append(UInt8(ascii: "0") + byte % 10)
                } else {
                    text.append(byte)
                }
            }
            index += 1 + length
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// `true` when every label is a letter-digit-hyphen host label (RFC 952/1123), the
    /// form an MX target must have to be usable.
    public var isHostName: Bool {
        guard !labels.isEmpty else { return false }
        var index = 0
        while index < labels.count {
            let length = Int(labels[index])
            let label = labels[(index + 1)..<(index + 1 + length)]
            for byte in label {
                let ok =
                    (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D
                    || byte == 0x5F
                if !ok { return false }
            }
            index += 1 + length
        }
        return true
    }
}

@inline(__always)
func lowercased(_ byte: UInt8) -> UInt8 {
    byte &- 0x41 < 26 ? byte | 0x20 : byte
}
