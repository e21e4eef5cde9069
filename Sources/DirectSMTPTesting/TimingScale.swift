#if canImport(Glibc)
import Glibc
#endif

/// How much slower this process runs than a plain build, for time bounds in tests.
///
/// A sanitizer build runs several times slower (ThreadSanitizer 5–15×, AddressSanitizer
/// about 2×), and a loaded CI machine adds to it. The sanitizer script sets
/// `DIRECTSMTP_SANITIZER` (to `thread` or `address`); a test multiplies each wall-clock
/// bound that only guards against a hang or a slow path by ``factor`` through
/// ``scaled(_:)``. Bounds that are the behaviour under test (a budget of 300 ms ends the
/// call at 300 ms) stay as they are; their slack is what gets scaled.
public enum TimingScale {
    /// 1 in a plain build; 4 under AddressSanitizer; 8 under ThreadSanitizer (or another
    /// value of `DIRECTSMTP_SANITIZER`).
    public static let factor: Int = {
        switch sanitizer {
        case nil: 1
        case "address": 4
        default: 8
        }
    }()

    /// The sanitizer the build runs under (`DIRECTSMTP_SANITIZER`: `thread`, `address`),
    /// or `nil`.
    public static let sanitizer: String? = {
        guard let value = getenv("DIRECTSMTP_SANITIZER").map({ String(cString: $0) }), !value.isEmpty else {
            return nil
        }
        return value
    }()

    /// Whether a sanitizer build is running (`DIRECTSMTP_SANITIZER` set).
    public static var underSanitizer: Bool { factor > 1 }

    /// `bound` times ``factor``.
    public static func scaled(_ bound: Duration) -> Duration { bound * factor }
}
