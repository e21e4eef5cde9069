#if OpenSSL
    import COpenSSL
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// A DKIM private key loaded from PEM through libcrypto: RSA (PKCS#8 `PRIVATE KEY` or
/// PKCS#1 `RSA PRIVATE KEY`, at least 1024 bits) or Ed25519 (PKCS#8).
///
/// ```swift
/// let key = try DKIMPrivateKey(contentsOf: "/etc/app/dkim/2026.pem")
/// if key.isWeak { print("use a 2048-bit key") }
/// ```
///
/// Thread safety: the wrapped `EVP_PKEY` and the RSA signing context prepared from it are
/// never changed after `init`: OpenSSL documents a fully set up key as safe to use from
/// several threads at once, and each signature works on its own copy of the context
/// (`EVP_PKEY_CTX_dup` only reads the original); both are freed only in `deinit`. That
/// makes sharing one instance across tasks safe, hence `@unchecked Sendable`.
public final class DKIMPrivateKey: @unchecked Sendable {
    /// The signing algorithms of RFC 6376 and RFC 8463.
    public enum Algorithm: String, Sendable, Hashable {
        /// `rsa-sha256` (RFC 6376).
        case rsaSHA256 = "rsa-sha256"
        /// `ed25519-sha256` (RFC 8463).
        case ed25519SHA256 = "ed25519-sha256"

        /// The `k=` tag of the DNS key record.
        public var keyType: String { self == .rsaSHA256 ? "rsa" : "ed25519" }
    }

    /// The shortest RSA key signed with (RFC 8301 §3.2).
    public static let minimumRSABits = 1024
    /// The RSA key size receivers expect today; shorter keys work but are flagged.
    public static let recommendedRSABits = 2048

    /// `rsa-sha256` or `ed25519-sha256`.
    public let algorithm: Algorithm
    /// The key's size in bits (256 for Ed25519).
    public let bits: Int
    /// The public key as a DKIM key record's `p=` carries it, decoded: the DER
    /// SubjectPublicKeyInfo for RSA, the raw 32 bytes for Ed25519 (RFC 8463 §4).
    public let publicKeyData: [UInt8]

    /// An RSA key shorter than ``recommendedRSABits``.
    public var isWeak: Bool { algorithm == .rsaSHA256 && bits < Self.recommendedRSABits }

    /// The DNS TXT record to publish at `selector._domainkey.domain`.
    public var dnsRecord: String {
        "v=DKIM1; k=\(algorithm.keyType); p=\(Base64Text.encode(publicKeyData))"
    }

    #if OpenSSL
        let key: OpaquePointer
        /// RSA only: a context set up once for RSASSA-PKCS1-v1_5 with SHA-256, copied for
        /// each signature (setting one up per signature costs about a tenth of the RSA
        /// operation itself in OpenSSL 3: `directsmtp-bench dkim` measured it).
        let rsaContext: OpaquePointer?

        /// Loads a PEM private key from the file at `path`.
        /// - Throws: ``DKIMError`` `key-unreadable`, `key-invalid` (also for an encrypted
        ///   key), `key-type-unsupported`, `key-too-weak`.
        public convenience init(contentsOf path: String) throws(DKIMError) {
            try self.init(pem: try Self.read(path))
        }

        /// Parses a PEM private key.
        /// - Throws: ``DKIMError`` `key-invalid`, `key-type-unsupported`, `key-too-weak`.
        public init(pem: [UInt8]) throws(DKIMError) {
            // The BIO reads `pem` in place: it lives only inside this closure. A passphrase
            // callback that refuses makes an encrypted key fail instead of prompting on
            // the terminal.
            let loaded = pem.withUnsafeBytes { raw -> OpaquePointer? in
                guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
                defer { BIO_free(bio) }
                return PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in -1 }, nil)
            }
            ERR_clear_error()
            guard let loaded else {
                throw DKIMError(
                    .keyInvalid,
                    "no unencrypted PEM private key (PKCS#8 \"PRIVATE KEY\" or PKCS#1 \"RSA PRIVATE KEY\") could be read"
                )
            }
            let type = directsmtp_EVP_PKEY_base_id(loaded)
            let bits = Int(directsmtp_EVP_PKEY_bits(loaded))
            let algorithm: Algorithm
            var publicKey: [UInt8] = []
            if type == directsmtp_EVP_PKEY_RSA() {
                guard bits >= Self.minimumRSABits else {
                    EVP_PKEY_free(loaded)
                    throw DKIMError(
                        .keyTooWeak,
                        "the RSA key has \(bits) bits; DKIM needs at least \(Self.minimumRSABits) (RFC 8301), \(Self.recommendedRSABits) recommended"
                    )
                }
                algorithm = .rsaSHA256
                let length = i2d_PUBKEY(loaded, nil)
                if length > 0 {
                    publicKey = [UInt8](repeating: 0, count: Int(length))
                    publicKey.withUnsafeMutableBufferPointer { buffer in
                        var cursor = buffer.baseAddress
                        _ = i2d_PUBKEY(loaded, &cursor)
                    }
                }
            } else if type == directsmtp_EVP_PKEY_ED25519() {
                algorithm = .ed25519SHA256
                var length = 32
                publicKey = [UInt8](repeating: 0, count: length)
                if EVP_PKEY_get_raw_public_key(loaded, &publicKey, &length) != 1 { publicKey = [] }
                publicKey = Array(publicKey.prefix(length))
            } else {
                EVP_PKEY_free(loaded)
                throw DKIMError(
                    .keyTypeUnsupported,
                    "the key is neither RSA nor Ed25519, the only types DKIM signs with")
            }
            guard !publicKey.isEmpty else {
                EVP_PKEY_free(loaded)
                throw DKIMError(.keyInvalid, "libcrypto could not derive the public key")
            }
            var rsaContext: OpaquePointer?
            if algorithm == .rsaSHA256, let context = EVP_PKEY_CTX_new(loaded, nil) {
                if EVP_PKEY_sign_init(context) == 1,
                    directsmtp_EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_PADDING) == 1,
                    directsmtp_EVP_PKEY_CTX_set_signature_md(context, EVP_sha256()) == 1
                {
                    rsaContext = context
                } else {
                    EVP_PKEY_CTX_free(context)
                    ERR_clear_error()
                }
            }
            self.rsaContext = rsaContext
            self.key = loaded
            self.algorithm = algorithm
            self.bits = bits
            self.publicKeyData = publicKey
        }

        deinit {
            EVP_PKEY_CTX_free(rsaContext)
            EVP_PKEY_free(key)
        }

        /// Signs `data` per the algorithm: RSASSA-PKCS1-v1_5 over SHA-256(data) for RSA;
        /// for Ed25519, PureEdDSA over SHA-256(data) (RFC 8463 §3: the hash is signed).
        func sign(_ data: [UInt8]) throws(DKIMError) -> [UInt8] {
            if let rsaContext {
                return try signRSA(DKIMDigest.sha256(data), rsaContext)
            }
            guard let context = EVP_MD_CTX_new() else {
                throw DKIMError(.signingFailed, "libcrypto could not allocate a digest context")
            }
            defer { EVP_MD_CTX_free(context) }
            let input: [UInt8]
            let digest: OpaquePointer?
            switch algorithm {
            case .rsaSHA256:
                input = data
                digest = EVP_sha256()
            case .ed25519SHA256:
                input = try DKIMDigest.sha256(data)
                digest = nil
            }
            guard EVP_DigestSignInit(context, nil, digest, nil, key) == 1 else {
                ERR_clear_error()
                throw DKIMError(.signingFailed, "libcrypto could not start a \(algorithm) signature")
            }
            var length = 0
            guard EVP_DigestSign(context, nil, &length, input, input.count) == 1 else {
                ERR_clear_error()
                throw DKIMError(.signingFailed, "libcrypto could not size a \(algorithm) signature")
            }
            var signature = [UInt8](repeating: 0, count: length)
            guard EVP_DigestSign(context, &signature, &length, input, input.count) == 1 else {
                ERR_clear_error()
                throw DKIMError(.signingFailed, "libcrypto failed to make a \(algorithm) signature")
            }
            return Array(signature.prefix(length))
        }

        /// RSASSA-PKCS1-v1_5 over a SHA-256 digest, on a copy of the prepared context.
        private func signRSA(_ digest: [UInt8], _ prepared: OpaquePointer) throws(DKIMError) -> [UInt8] {
            guard let context = EVP_PKEY_CTX_dup(prepared) else {
                ERR_clear_error()
                throw DKIMError(.signingFailed, "libcrypto could not copy the RSA signing context")
            }
            defer { EVP_PKEY_CTX_free(context) }
            var length = 0
            guard EVP_PKEY_sign(context, nil, &length, digest, digest.count) == 1 else {
                ERR_clear_error()
                throw DKIMError(.signingFailed, "libcrypto could not size an RSA signature")
            }
            var signature = [UInt8](repeating: 0, count: length)
            guard EVP_PKEY_sign(context, &signature, &length, digest, digest.count) == 1 else {
                ERR_clear_error()
                throw DKIMError(.signingFailed, "libcrypto failed to make an RSA signature")
            }
            return Array(signature.prefix(length))
        }
    #else
        /// Loads a PEM private key from the file at `path`.
        /// - Throws: ``DKIMError`` `unavailable`: this build has no OpenSSL.
        public convenience init(contentsOf path: String) throws(DKIMError) {
            _ = try Self.read(path)
            try self.init(pem: [])
        }

        /// Parses a PEM private key.
        /// - Throws: ``DKIMError`` `unavailable`: this build has no OpenSSL.
        public init(pem: [UInt8]) throws(DKIMError) {
            throw Self.unavailable
        }

        func sign(_ data: [UInt8]) throws(DKIMError) -> [UInt8] { throw Self.unavailable }

        static let unavailable = DKIMError(
            .unavailable, "DKIM signing needs the OpenSSL package trait (built without it)")
    #endif

    /// The bytes of the file at `path` (at most 1 MiB: no key is larger).
    static func read(_ path: String) throws(DKIMError) -> [UInt8] {
        let file = open(path, O_RDONLY | O_CLOEXEC)
        guard file >= 0 else {
            throw DKIMError(
                .keyUnreadable, "cannot open the key file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while bytes.count <= 1 << 20 {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(file, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw DKIMError(
                    .keyUnreadable,
                    "cannot read the key file \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk.prefix(count))
        }
        throw DKIMError(.keyInvalid, "the key file \(path) is larger than 1 MiB: not a PEM key")
    }
}
