#if OpenSSL
import COpenSSL
import Sockets

/// Self-signed certificates made at test time with libcrypto, for ``MockSMTPServer``'s
/// STARTTLS: an EC P-256 key and a certificate for `mock.test`, made once per process.
///
/// ```swift
/// let context = try MockTLSCertificate.serverContext()
/// ```
public enum MockTLSCertificate {
    private static let cache = Lock<[[Int]: TLSContext]>([:])

    /// A server context presenting a self-signed certificate for `mock.test`; with
    /// `paddingBytes` > 0 the certificate carries an extension of that many bytes (for
    /// clients facing a huge certificate). It issues `sessionTickets` tickets per
    /// handshake (0: clients cannot resume). Made once per settings and process.
    public static func serverContext(paddingBytes: Int = 0, sessionTickets: Int = 1) throws(SocketError)
        -> TLSContext
    {
        let key = [paddingBytes, sessionTickets]
        if let cached = cache.withLock({ $0[key] }) { return cached }
        let (chain, privateKey) = try make(hostName: "mock.test", paddingBytes: paddingBytes)
        let context = try TLSContext.server(
            certificateChainPEM: chain, privateKeyPEM: privateKey, sessionTickets: sessionTickets)
        return cache.withLock { cache in
            if let raced = cache[key] { return raced }
            cache[key] = context
            return context
        }
    }

    /// A new key and self-signed certificate for `hostName`, both in PEM.
    public static func make(hostName: String, paddingBytes: Int = 0) throws(SocketError) -> (certificatePEM: [UInt8], privateKeyPEM: [UInt8]) {
        ERR_clear_error()
        guard let key = directsmtp_EVP_EC_gen("prime256v1") else { throw failure("making an EC key") }
        defer { EVP_PKEY_free(key) }
        guard let certificate = X509_new() else { throw failure("making a certificate") }
        defer { X509_free(certificate) }
        let mbstringASCII: Int32 = 0x1001  // MBSTRING_ASC, a macro Swift does not import
        guard X509_set_version(certificate, 2) == 1,
            ASN1_INTEGER_set(X509_get_serialNumber(certificate), 1) == 1,
            X509_gmtime_adj(X509_getm_notBefore(certificate), -3600) != nil,
            X509_gmtime_adj(X509_getm_notAfter(certificate), 86400 * 365) != nil,
            X509_set_pubkey(certificate, key) == 1,
            let name = X509_get_subject_name(certificate),
            X509_NAME_add_entry_by_txt(name, "CN", mbstringASCII, hostName, -1, -1, 0) == 1,
            X509_set_issuer_name(certificate, name) == 1
        else { throw failure("filling in the certificate") }
        if paddingBytes > 0 {
            guard let oid = OBJ_txt2obj("1.3.6.1.4.1.55555.1", 1), let octets = ASN1_OCTET_STRING_new() else {
                throw failure("making the padding extension")
            }
            defer {
                ASN1_OBJECT_free(oid)
                ASN1_OCTET_STRING_free(octets)
            }
            let padding = [UInt8](repeating: 0x41, count: paddingBytes)
            guard ASN1_OCTET_STRING_set(octets, padding, Int32(paddingBytes)) == 1,
                let extensionItem = X509_EXTENSION_create_by_OBJ(nil, oid, 0, octets)
            else { throw failure("making the padding extension") }
            defer { X509_EXTENSION_free(extensionItem) }
            guard X509_add_ext(certificate, extensionItem, -1) == 1 else { throw failure("adding the padding extension") }
        }
        guard X509_sign(certificate, key, EVP_sha256()) > 0 else { throw failure("signing the certificate") }
        let certificatePEM = try pem("writing the certificate") { PEM_write_bio_X509($0, certificate) }
        let keyPEM = try pem("writing the key") { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) }
        return (certificatePEM, keyPEM)
    }

    private static func pem(_ what: String, _ write: (OpaquePointer) -> Int32) throws(SocketError) -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw failure(what) }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw failure(what) }
        let pending = Int(BIO_ctrl_pending(bio))
        return [UInt8](unsafeUninitializedCapacity: pending) { raw, count in
            count = Int(max(0, BIO_read(bio, raw.baseAddress, Int32(pending))))
        }
    }

    private static func failure(_ what: String) -> SocketError {
        let code = ERR_get_error()
        let reason = code == 0 ? "unknown" : ERR_reason_error_string(code).map { String(cString: $0) } ?? "OpenSSL error \(code)"
        ERR_clear_error()
        return SocketError(.tls, "\(what) failed: \(reason)")
    }
}
#endif
