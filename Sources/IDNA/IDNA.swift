import Foundation

/// Domain names to their A-label (ASCII) form, as DNS and SMTP need them (IDNA, RFC 5890
/// and 5891, with punycode from RFC 3492).
///
/// Each label is handled alone: an ASCII label is lower-cased and kept; a label with
/// non-ASCII characters is lower-cased and becomes `xn--` followed by its punycode. The
/// lengths are checked after conversion (label ≤ 63 bytes, name ≤ 253 bytes without the
/// trailing dot). The ideographic full stops U+3002, U+FF0E and U+FF61 separate labels too.
///
/// Non-ASCII input is first put in Unicode normalisation form C (RFC 5891 §5.2), so a
/// decomposed "u" + combining diaeresis names the same domain as "ü". Limits: no UTS 46
/// mapping beyond lower-casing.
///
/// ```swift
/// try IDNA.toASCII("Bücher.example")    // "xn--bcher-kva.example"
/// try IDNA.toASCII("EXAMPLE.com")       // "example.com"
/// ```
public enum IDNA {
    /// The longest label, in bytes (RFC 1035).
    public static let maxLabelLength = 63
    /// The longest name in text form without a trailing dot (255 on the wire).
    public static let maxNameLength = 253

    /// Converts `domain` to lower-case A-labels. A single trailing dot (a rooted name) is
    /// kept and not counted in the length.
    /// - Throws: ``IDNAError`` for empty labels, bad characters or hyphens, and lengths.
    public static func toASCII(_ domain: String) throws(IDNAError) -> String {
        // NFC first, and only for non-ASCII text (ASCII is its own NFC). Linear, so safe
        // on untrusted input before the length checks below.
        let normalized = isASCII(domain) ? domain : domain.precomposedStringWithCanonicalMapping
        var labels: [[Unicode.Scalar]] = [[]]
        for scalar in normalized.unicodeScalars {
            switch scalar.value {
            case 0x2E, 0x3002, 0xFF0E, 0xFF61: labels.append([])
            default: labels[labels.count - 1].append(scalar)
            }
        }
        var rooted = false
        if labels.count > 1, labels[labels.count - 1].isEmpty {
            labels.removeLast()
            rooted = true
        }
        // Refuse over-long input before any conversion work: punycode encoding is
        // quadratic in a label's distinct code points, and this runs on untrusted text.
        // Every scalar becomes at least one byte of the ASCII form (lower-casing never
        // merges scalars), so a label of more than 63 scalars, or a name of more than 253
        // scalars and dots, can only fail later.
        var total = labels.count - 1
        for label in labels {
            guard label.count <= maxLabelLength else {
                throw IDNAError(.labelTooLong, "a label of '\(printable(domain))' is longer than \(maxLabelLength) bytes in ASCII form")
            }
            total += label.count
        }
        guard total <= maxNameLength else {
            throw IDNAError(.nameTooLong, "the domain '\(printable(domain))' is longer than \(maxNameLength) bytes in ASCII form")
        }
        var output: [UInt8] = []
        output.reserveCapacity(domain.utf8.count)
        for (index, label) in labels.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ".")) }
            output.append(contentsOf: try labelToASCII(label, in: domain))
        }
        guard output.count <= maxNameLength else {
            throw IDNAError(.nameTooLong, "the domain '\(printable(domain))' is longer than \(maxNameLength) bytes in ASCII form")
        }
        if rooted { output.append(UInt8(ascii: ".")) }
        return String(decoding: output, as: UTF8.self)
    }

    /// Converts A-labels back to Unicode for display; ASCII labels are kept as they are.
    /// - Throws: ``IDNAError/Code/invalidPunycode`` for an `xn--` label that does not
    ///   decode; `labelTooLong`/`nameTooLong` beyond 63/253 bytes.
    public static func toUnicode(_ domain: String) throws(IDNAError) -> String {
        // As in toASCII, too long is refused before any decoding (decoding inserts into
        // the output, quadratic in a label's length).
        guard domain.utf8.count <= maxNameLength + 1 else {
            throw IDNAError(.nameTooLong, "the domain '\(printable(domain))' is longer than \(maxNameLength) bytes in ASCII form")
        }
        var parts: [String] = []
        for label in domain.split(separator: ".", omittingEmptySubsequences: false) {
            guard label.utf8.count <= maxLabelLength else {
                throw IDNAError(.labelTooLong, "a label of '\(printable(domain))' is longer than \(maxLabelLength) bytes in ASCII form")
            }
            let lower = String(label).lowercasedASCII
            if lower.hasPrefix("xn--") {
                var text = String.UnicodeScalarView()
                text.append(contentsOf: try Punycode.decode(String(lower.dropFirst(4))))
                parts.append(String(text))
            } else {
                parts.append(String(label))
            }
        }
        return parts.joined(separator: ".")
    }

    /// Whether `domain` is all ASCII (then ``toASCII(_:)`` only lower-cases and checks it).
    public static func isASCII(_ domain: String) -> Bool {
        domain.utf8.allSatisfy { $0 < 0x80 }
    }

    private static func labelToASCII(_ label: [Unicode.Scalar], in domain: String) throws(IDNAError) -> [UInt8] {
        guard !label.isEmpty else {
            throw IDNAError(.emptyLabel, "the domain '\(printable(domain))' has an empty label")
        }
        var ascii: [UInt8] = []
        let isASCII = label.allSatisfy { $0.value < 0x80 }
        var scalars = label
        if isASCII {
            ascii = label.map { lowerASCII(UInt8($0.value)) }
        } else {
            // Lower-case through the standard library's Unicode tables.
            var view = String.UnicodeScalarView()
            view.append(contentsOf: label)
            scalars = Array(String(view).lowercased().unicodeScalars)
        }
        for scalar in scalars {
            let value = scalar.value
            if value < 0x80 {
                let byte = lowerASCII(UInt8(value))
                let ok = (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
                guard ok else {
                    throw IDNAError(.invalidCharacter, "the domain '\(printable(domain))' contains a character not allowed in a host name")
                }
            } else if value < 0xA0 || (0xFFF0...0xFFFF).contains(value) || (0x2000...0x200F).contains(value)
                        || (0x2028...0x202F).contains(value) || value == 0xFEFF {
                // C1 controls, specials, and invisible or space-like formatting characters.
                throw IDNAError(.invalidCharacter, "the domain '\(printable(domain))' contains a control or invisible character")
            }
        }
        if scalars.first == "-" || scalars.last == "-" {
            throw IDNAError(.invalidHyphen, "a label of '\(printable(domain))' starts or ends with a hyphen")
        }
        // A label whose lower-case form is all ASCII (the Kelvin sign K is "k") is an
        // ASCII label, not an A-label of it: "xn--k-" would name another domain.
        let lowersToASCII = !isASCII && scalars.allSatisfy { $0.value < 0x80 }
        if lowersToASCII { ascii = scalars.map { lowerASCII(UInt8($0.value)) } }
        if !isASCII && !lowersToASCII {
            ascii = Array("xn--".utf8) + Array(try Punycode.encode(scalars).utf8)
        } else if ascii.count > 4, ascii[0] == UInt8(ascii: "x"), ascii[1] == UInt8(ascii: "n"),
                  ascii[2] == UInt8(ascii: "-"), ascii[3] == UInt8(ascii: "-") {
            // An A-label given as such must decode.
            _ = try Punycode.decode(String(decoding: ascii[4...], as: UTF8.self))
        }
        guard ascii.count <= maxLabelLength else {
            throw IDNAError(.labelTooLong, "a label of '\(printable(domain))' is longer than \(maxLabelLength) bytes in ASCII form")
        }
        return ascii
    }

    private static func lowerASCII(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
    }

    /// The input with control characters shown as `?`, safe to put in an error message.
    static func printable(_ text: String) -> String {
        var view = String.UnicodeScalarView()
        for scalar in text.unicodeScalars.prefix(300) {
            view.append(scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) ? "?" : scalar)
        }
        return String(view)
    }
}

extension String {
    var lowercasedASCII: String {
        String(decoding: utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
    }
}
