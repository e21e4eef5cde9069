#if OpenSSL
import COpenSSL

/// The TLS library this build links: the system's OpenSSL.
public enum TLSLibrary {
    /// OpenSSL's version text, e.g. `"OpenSSL 3.0.19 27 Jan 2026"`.
    public static var version: String {
        String(cString: OpenSSL_version(OPENSSL_VERSION))
    }
}
#endif
