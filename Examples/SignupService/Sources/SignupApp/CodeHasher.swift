import Crypto

/// Makes the 6-digit codes and their salted hashes; the code itself is never stored.
///
/// A 6-digit code has only a million values, so the hash keeps a stolen database from
/// showing codes at a glance, nothing more: the try limit is what stops guessing.
enum CodeHasher {
    /// A uniformly random code, `000000`...`999999`.
    static func makeCode() -> String {
        var generator = SystemRandomNumberGenerator()
        let value = Int.random(in: 0..<1_000_000, using: &generator)
        let digits = String(value)
        return String(repeating: "0", count: 6 - digits.count) + digits
    }

    /// 16 random bytes.
    static func makeSalt() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// SHA-256 of salt and code.
    static func hash(code: String, salt: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: salt + Array(code.utf8)))
    }

    /// Whether `code` is the one hashed, in time independent of where they differ.
    static func matches(code: String, salt: [UInt8], hash expected: [UInt8]) -> Bool {
        let actual = hash(code: code, salt: salt)
        guard actual.count == expected.count, !expected.isEmpty else { return false }
        return zip(actual, expected).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
