/// Punycode (RFC 3492): the Bootstring encoding that IDNA uses to carry Unicode labels in
/// ASCII. Pure functions on Unicode scalars; no Foundation.
///
/// ```swift
/// let encoded = try Punycode.encode(Array("bücher".unicodeScalars))   // "bcher-kva"
/// let decoded = try Punycode.decode("bcher-kva")                      // "bücher" scalars
/// ```
public enum Punycode {
    private static let base = 36
    private static let tMin = 1
    private static let tMax = 26
    private static let skew = 38
    private static let damp = 700
    private static let initialBias = 72
    private static let initialN = 128
    private static let delimiter = UInt8(ascii: "-")

    /// Encodes a sequence of code points (RFC 3492 §6.3). Basic (ASCII) code points are
    /// copied in their original case; the rest become lower-case base-36 digits.
    /// - Throws: ``IDNAError/Code/overflow`` when the input is too long to encode.
    public static func encode(_ input: [Unicode.Scalar]) throws(IDNAError) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(input.count + 8)
        for scalar in input where scalar.value < 0x80 {
            output.append(UInt8(scalar.value))
        }
        let basicCount = output.count
        var handled = basicCount
        if basicCount > 0 { output.append(delimiter) }

        var n = initialN
        var delta = 0
        var bias = initialBias
        while handled < input.count {
            // The smallest code point not yet handled.
            var m = Int.max
            for scalar in input where Int(scalar.value) >= n && Int(scalar.value) < m {
                m = Int(scalar.value)
            }
            let (product, overflow1) = (m - n).multipliedReportingOverflow(by: handled + 1)
            let (sum, overflow2) = delta.addingReportingOverflow(product)
            guard !overflow1, !overflow2, sum <= Int(Int32.max) else {
                throw IDNAError(.overflow, "the label is too long to encode as punycode")
            }
            delta = sum
            n = m
            for scalar in input {
                let c = Int(scalar.value)
                if c < n {
                    delta += 1
                    guard delta <= Int(Int32.max) else {
                        throw IDNAError(.overflow, "the label is too long to encode as punycode")
                    }
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

    /// Decodes a punycode string (without the `xn--` prefix) into code points (RFC 3492 §6.2).
    /// - Throws: ``IDNAError/Code/invalidPunycode`` on bad digits, truncation or overflow.
    public static func decode(_ text: String) throws(IDNAError) -> [Unicode.Scalar] {
        let bytes = Array(text.utf8)
        var output: [Unicode.Scalar] = []
        var start = 0
        if let last = bytes.lastIndex(of: delimiter) {
            for byte in bytes[..<last] {
                guard byte < 0x80 else { throw IDNAError(.invalidPunycode, "'\(IDNA.printable(text))' is not valid punycode") }
                output.append(Unicode.Scalar(byte))
            }
            start = last + 1
        }
        var n = initialN
        var i = 0
        var bias = initialBias
        var index = start
        while index < bytes.count {
            let oldI = i
            var w = 1
            var k = base
            while true {
                guard index < bytes.count, let d = value(of: bytes[index]) else {
                    throw IDNAError(.invalidPunycode, "'\(IDNA.printable(text))' is not valid punycode")
                }
                index += 1
                let (product, o1) = d.multipliedReportingOverflow(by: w)
                let (sum, o2) = i.addingReportingOverflow(product)
                guard !o1, !o2, sum <= Int(Int32.max) else {
                    throw IDNAError(.invalidPunycode, "'\(IDNA.printable(text))' overflows when decoded")
                }
                i = sum
                let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                if d < t { break }
                let (nextW, o3) = w.multipliedReportingOverflow(by: base - t)
                guard !o3, nextW <= Int(Int32.max) else {
                    throw IDNAError(.invalidPunycode, "'\(IDNA.printable(text))' overflows when decoded")
                }
                w = nextW
                k += base
            }
            let count = output.count + 1
            bias = adapt(i - oldI, count, oldI == 0)
            n += i / count
            i %= count
            guard n <= 0x10FFFF, let scalar = Unicode.Scalar(UInt32(n)), n >= 0x80 else {
                throw IDNAError(.invalidPunycode, "'\(IDNA.printable(text))' decodes to an invalid code point")
            }
            output.insert(scalar, at: i)
            i += 1
        }
        return output
    }

    private static func adapt(_ delta: Int, _ count: Int, _ first: Bool) -> Int {
        var delta = first ? delta / damp : delta / 2
        delta += delta / count
        var k = 0
        while delta > ((base - tMin) * tMax) / 2 {
            delta /= base - tMin
            k += base
        }
        return k + (base - tMin + 1) * delta / (delta + skew)
    }

    private static func digit(_ d: Int) -> UInt8 {
        d < 26 ? UInt8(ascii: "a") + UInt8(d) : UInt8(ascii: "0") + UInt8(d - 26)
    }

    private static func value(of byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return Int(byte - UInt8(ascii: "a"))
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return Int(byte - UInt8(ascii: "A"))
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte - UInt8(ascii: "0")) + 26
        default: return nil
        }
    }
}
