#if OpenSSL
import COpenSSL

/// The client's TLS sessions (RFC 8446 §2.2 tickets, RFC 5077 for TLS 1.2), one per server
/// name and address, so the next connection to the same MX host resumes instead of a full
/// handshake: no certificate to send, sign or parse, about half the handshake's CPU.
///
/// Bounded: at most `capacity` entries; a new key beyond it first drops expired entries,
/// then an eighth of the table (one sweep per `capacity / 8` new keys). An entry lives
/// until the earlier of `lifetime` and the server's ticket lifetime hint. A ticket is
/// reused until a newer one replaces it (each handshake brings a new one); a handshake
/// that fails drops the entry.
public final class TLSSessionCache: Sendable {
    /// A session OpenSSL handed over. `@unchecked Sendable`: an `SSL_SESSION` is never
    /// changed once it is here (only `SSL_set_session` reads it, which takes its own
    /// reference under OpenSSL's atomic reference count), and it is freed once, in deinit.
    final class Saved: @unchecked Sendable {
        let session: OpaquePointer
        init(_ session: OpaquePointer) { self.session = session }
        deinit { SSL_SESSION_free(session) }
    }

    private struct Entry {
        var saved: Saved
        var expires: ContinuousClock.Instant
    }

    /// The most entries kept.
    public let capacity: Int
    /// The longest an entry is used.
    public let lifetime: Duration
    private let entries = Lock<[String: Entry]>([:])

    /// - Parameters:
    ///   - capacity: entries kept at most (at least 8).
    ///   - lifetime: the longest a session is reused, whatever the server's hint.
    public init(capacity: Int = 4096, lifetime: Duration = .seconds(3600)) {
        self.capacity = max(8, capacity)
        self.lifetime = lifetime
    }

    /// The session kept for `key`, if it has not expired.
    func session(for key: String) -> Saved? {
        let now = ContinuousClock.now
        return entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard entry.expires > now else {
                entries[key] = nil
                return nil
            }
            return entry.saved
        }
    }

    /// Keeps `session` (its reference is now the cache's) for `key`.
    func store(_ session: OpaquePointer, for key: String) {
        let saved = Saved(session)
        guard SSL_SESSION_is_resumable(session) == 1 else { return }
        let hint = Duration.seconds(max(0, Int(SSL_SESSION_get_timeout(session))))
        let now = ContinuousClock.now
        let entry = Entry(saved: saved, expires: now + min(lifetime, hint))
        // Replaced and dropped sessions are freed after the lock, not under it.
        let dropped: [Entry] = entries.withLock { entries in
            var dropped: [Entry] = []
            if entries.count >= capacity, entries[key] == nil {
                for (old, value) in entries where value.expires <= now {
                    dropped.append(value)
                    entries[old] = nil
                }
                let excess = entries.count - (capacity - capacity / 8)
                if excess > 0 {
                    for old in Array(entries.keys.prefix(excess)) {
                        if let value = entries.removeValue(forKey: old) { dropped.append(value) }
                    }
                }
            }
            if let replaced = entries.updateValue(entry, forKey: key) { dropped.append(replaced) }
            return dropped
        }
        _ = dropped
    }

    /// Forgets `key` (its last handshake failed).
    func remove(_ key: String) {
        let dropped = entries.withLock { $0.removeValue(forKey: key) }
        _ = dropped
    }

    /// Sessions kept now.
    public var count: Int { entries.withLock { $0.count } }

    /// Forgets every session.
    public func removeAll() {
        let dropped = entries.withLock { entries in
            defer { entries = [:] }
            return entries
        }
        _ = dropped
    }
}
#endif
