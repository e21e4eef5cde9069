#if OpenSSL
import COpenSSL

/// The client's TLS sessions (RFC 8446 §2.2 tickets, RFC 5077 for TLS 1.2), kept per server
/// name and address, so the next connection to the same MX host resumes instead of a full
/// handshake: no certificate to send, sign or parse, about half the handshake's CPU.
///
/// A TLS 1.3 ticket is used once (RFC 8446 §C.4: reuse lets an observer link connections;
/// OpenSSL also marks a session unresumable once a handshake with it ends), so each server
/// keeps a small pool: a connection takes one ticket and the server's next ticket refills
/// the pool. Concurrent connections to one server each need a ticket of their own, hence
/// up to `sessionsPerServer` of them. A TLS 1.2 session stays in the pool while in use:
/// TLS 1.2 resumption reuses it by design and its server need not send a new ticket.
///
/// Bounded: at most `capacity` sessions in all; a new one beyond it first drops expired
/// sessions, then whole servers until an eighth of the room is free again. A session lives
/// until the earlier of `lifetime` and the server's ticket lifetime hint; a handshake that
/// fails drops the server's sessions.
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
        /// TLS 1.3: used once, so taken out of the pool when used.
        var singleUse: Bool
    }

    private struct Table {
        /// Per server, oldest first.
        var servers: [String: [Entry]] = [:]
        var count = 0
    }

    /// The most sessions kept, over all servers.
    public let capacity: Int
    /// The most sessions kept for one server (name and address).
    public let sessionsPerServer: Int
    /// The longest a session is used.
    public let lifetime: Duration
    private let table = Lock(Table())

    /// - Parameters:
    ///   - capacity: sessions kept at most, over all servers (at least 8).
    ///   - sessionsPerServer: sessions kept at most for one server; about the most
    ///     concurrent connections to one server that all resume (at least 1).
    ///   - lifetime: the longest a session is reused, whatever the server's hint.
    public init(capacity: Int = 4096, sessionsPerServer: Int = 128, lifetime: Duration = .seconds(3600)) {
        self.capacity = max(8, capacity)
        self.sessionsPerServer = max(1, sessionsPerServer)
        self.lifetime = lifetime
    }

    /// A session to resume `key` with, if one is kept and has not expired: the newest one,
    /// taken out of the pool when it is a TLS 1.3 one (see the type's note).
    func session(for key: String) -> Saved? {
        let now = ContinuousClock.now
        // Dropped sessions are freed after the lock, not under it.
        let (found, dropped): (Saved?, [Entry]) = table.withLock { table in
            guard var pool = table.servers[key] else { return (nil, []) }
            var dropped: [Entry] = []
            var found: Saved?
            while let newest = pool.last {
                guard newest.expires > now, SSL_SESSION_is_resumable(newest.saved.session) == 1 else {
                    dropped.append(pool.removeLast())
                    continue
                }
                found = newest.saved
                if newest.singleUse { dropped.append(pool.removeLast()) }
                break
            }
            table.count -= dropped.count
            table.servers[key] = pool.isEmpty ? nil : pool
            return (found, dropped)
        }
        _ = dropped
        return found
    }

    /// Keeps `session` (its reference is now the cache's) for `key`.
    func store(_ session: OpaquePointer, for key: String) {
        let saved = Saved(session)
        guard SSL_SESSION_is_resumable(session) == 1 else { return }
        let hint = Duration.seconds(max(0, Int(SSL_SESSION_get_timeout(session))))
        let now = ContinuousClock.now
        let entry = Entry(
            saved: saved, expires: now + min(lifetime, hint),
            singleUse: SSL_SESSION_get_protocol_version(session) >= TLS1_3_VERSION)
        let dropped: [Entry] = table.withLock { table in
            var dropped: [Entry] = []
            var pool = table.servers.removeValue(forKey: key) ?? []
            if pool.count >= min(sessionsPerServer, capacity) {
                dropped.append(pool.removeFirst())
                table.count -= 1
            }
            if table.count >= capacity {
                for (server, sessions) in table.servers {
                    let live = sessions.filter { $0.expires > now }
                    guard live.count < sessions.count else { continue }
                    dropped += sessions.filter { $0.expires <= now }
                    table.servers[server] = live.isEmpty ? nil : live
                }
                table.count = table.servers.values.reduce(pool.count) { $0 + $1.count }
                while table.count > capacity - capacity / 8, let server = table.servers.keys.first {
                    let sessions = table.servers.removeValue(forKey: server) ?? []
                    dropped += sessions
                    table.count -= sessions.count
                }
            }
            pool.append(entry)
            table.count += 1
            table.servers[key] = pool
            return dropped
        }
        _ = dropped
    }

    /// Forgets `key`'s sessions (its last handshake failed).
    func remove(_ key: String) {
        let dropped = table.withLock { table in
            let sessions = table.servers.removeValue(forKey: key) ?? []
            table.count -= sessions.count
            return sessions
        }
        _ = dropped
    }

    /// Sessions kept now, over all servers.
    public var count: Int { table.withLock { $0.count } }

    /// Forgets every session.
    public func removeAll() {
        let dropped = table.withLock { table in
            defer { table = Table() }
            return table.servers
        }
        _ = dropped
    }
}
#endif
