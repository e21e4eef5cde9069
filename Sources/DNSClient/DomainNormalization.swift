import IDNA

/// Turns what a user typed into the name to look up: the A-label form (IDNA, RFC 5891,
/// through the shared `IDNA` module), lower-case, without a trailing dot. `nil` when no
/// host name can be made of it (empty or over-long labels, characters a host name cannot
/// hold, labels starting or ending with a hyphen).
///
/// Already-normal ASCII input is returned as is, without allocating (the resolver's
/// cached path calls this on every lookup).
///
/// ```swift
/// aLabel("Bücher.Example.")   // "xn--bcher-kva.example"
/// aLabel("exa mple.com")      // nil
/// ```
public func aLabel(_ domain: String) -> String? {
    if isNormalASCII(domain) { return domain }
    guard var converted = try? IDNA.toASCII(domain) else { return nil }
    if converted.hasSuffix(".") { converted.removeLast() }
    guard !converted.isEmpty, isNormalASCII(converted) else { return nil }
    return converted
}

/// Lower-case letters, digits, `-` and `_` in dot-separated labels of 1...63 bytes that
/// neither start nor end with `-`; at most 253 bytes; no trailing dot.
func isNormalASCII(_ domain: String) -> Bool {
    var count = 0
    var labelLength = 0
    var previous: UInt8 = UInt8(ascii: ".")
    for byte in domain.utf8 {
        count += 1
        if byte == UInt8(ascii: ".") {
            if labelLength == 0 || previous == UInt8(ascii: "-") { return false }
            labelLength = 0
            previous = byte
            continue
        }
        let allowed =
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x5F
            || (byte == 0x2D && labelLength > 0)
        if !allowed { return false }
        labelLength += 1
        if labelLength > 63 { return false }
        previous = byte
    }
    return count > 0 && count <= 253 && labelLength > 0 && previous != UInt8(ascii: "-")
}
