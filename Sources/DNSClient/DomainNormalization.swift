/// Turns what a user typed into the name to look up: the A-label form (RFC 5891),
/// lower-case, without a trailing dot. `nil` when no domain name can be made of it
/// (empty, empty labels, labels over 63 or names over 253 characters, once converted).
///
/// Already-normal ASCII input is returned as is, without allocating (the resolver's
/// cached path calls this on every lookup).
///
/// ```swift
/// aLabel("Bücher.Example.")   // "xn--bcher-kva.example"
/// ```
public func aLabel(_ domain: String) -> String? {
    if isNormalASCII(domain) { return domain }
    var text = domain
    if text.hasSuffix(".") { text.removeLast() }
    guard !text.isEmpty else { return nil }
    var labels: [String] = []
    for label in text.split(separator: ".", omittingEmptySubsequences: false) {
        guard !label.isEmpty else { return nil }
        if label.utf8.allSatisfy({ $0 < 0x80 }) {
            labels.append(String(decoding: label.utf8.map(lowercased), as: UTF8.self))
        } else {
            guard let encoded = idnaALabel(String(label)) else { return nil }
            labels.append(encoded)
        }
    }
    let result = labels.joined(separator: ".")
    guard result.utf8.count <= 253, labels.allSatisfy({ $0.utf8.count <= 63 }) else { return nil }
    return result
}

/// ASCII, no upper case, no trailing or doubled dots, labels 1...63, at most 253 bytes.
func isNormalASCII(_ domain: String) -> Bool {
    var count = 0
    var labelLength = 0
    for byte in domain.utf8 {
        count += 1
        if byte == UInt8(ascii: ".") {
            if labelLength == 0 { return false }
            labelLength = 0
            continue
        }
        if byte >= 0x80 || (byte >= 0x41 && byte <= 0x5A) { return false }
        labelLength += 1
        if labelLength > 63 { return false }
    }
    return count > 0 && count <= 253 && labelLength > 0
}
