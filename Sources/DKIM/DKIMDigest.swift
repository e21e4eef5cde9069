#if OpenSSL
    import COpenSSL
#endif
import SMTPClient

/// SHA-256 through libcrypto, for `bh=` and the Ed25519 prehash.
enum DKIMDigest {
    /// SHA-256 of `data`.
    static func sha256(_ data: [UInt8]) throws(DKIMError) -> [UInt8] {
        #if OpenSSL
            var digest = [UInt8](repeating: 0, count: 32)
            var length: UInt32 = 0
            let ok = data.withUnsafeBytes { bytes in
                EVP_Digest(bytes.baseAddress, bytes.count, &digest, &length, EVP_sha256(), nil)
            }
            guard ok == 1, length == 32 else {
                ERR_clear_error()
                throw DKIMError(.signingFailed, "libcrypto could not compute SHA-256")
            }
            return digest
        #else
            throw DKIMPrivateKey.unavailable
        #endif
    }
}

/// Base64 for `bh=`, `b=` and `p=` (the SMTP client's RFC 4648 coder).
enum Base64Text {
    static func encode(_ bytes: [UInt8]) -> String { SMTPClient.Base64.encode(bytes) }
    static func decode(_ text: String) -> [UInt8]? { SMTPClient.Base64.decode(text) }
}
