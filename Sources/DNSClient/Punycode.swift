/// Converts one non-ASCII label to its A-label (`xn--` + punycode of the lower-cased
/// label). A stand-in until the shared `IDNA` module lands; see ``aLabel(_:)``.
func idnaALabel(_ label: String) -> String? {
    guard let encoded = punycodeEncode(label.lowercased()) else { return nil }
    return "xn--" + encoded
}

/// Punycode (RFC 3492 §6.3) of `input`; `nil` on overflow.
func punycodeEncode(_ input: String) -> String? {
    let base = 36, tMin = 1, tMax = 26, skew = 38, damp = 700
    let scalars = input.unicodeScalars.map { Int($0.value) }
    var output: [UInt8] = scalars.filter { $0 < 0x80 }.map { UInt8($0) }
    let basicCount = output.count
    var handled = basicCount
    if basicCount > 0 { output.append(UInt8(ascii: "-")) }
    var n = 128, delta = 0, bias = 72

    func digit(_ d: Int) -> UInt8 { d < 26 ? UInt8(97 + d) : UInt8(22 + d) }
    func adapt(_ delta: Int, _ count: Int, _ first: Bool) -> Int {
        var delta = first ? delta / damp : delta / 2
        delta += delta / count
        var k = 0
        while delta > ((base - tMin) * tMax) / 2 {
            delta /= base - tMin
            k += base
        }
        return k + (base - tMin + 1) * delta / (delta + skew)
    }

    while handled < scalars.count {
        guard let m = scalars.filter({ $0 >= n }).min() else { break }
        let (product, overflow) = (m - n).multipliedReportingOverflow(by: handled + 1)
        guard !overflow, delta <= Int(Int32.max) - product else { return nil }
        delta += product
        n = m
        for c in scalars {
            if c < n {
                delta += 1
                guard delta <= Int(Int32.max) else { return nil }
            }
            if c == n {
                var q = delta
                var k = base
                while true {
                    let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                    if q < t { break }
                    output.append(digit(t + (q - t) % (base - t)))
                    q = (q - t) / (base - t)
                    k += base
                }
                output.append(digit(q))
                bias = adapt(delta, handled + 1, handled == basicCount)
                delta = 0
                handled += 1
            }
        }
        delta += 1
        n += 1
    }
    return String(decoding: output, as: UTF8.self)
}
