import SMTPClient
import Sockets

/// One SMTP connection to one server address, as an attempt drives it: `openForRace()`
/// (connect, greeting, EHLO), then a transaction run by the attempt, then `close()`.
protocol SMTPConnection: AnyObject, Sendable {
    /// Connect + 220 greeting + EHLO. `nil` when ready for a transaction, otherwise why
    /// not (`.unreachable` or `.senderRejected`). Returns promptly when cancelled.
    func openForRace() async -> SMTPResult?
    /// The same, with STARTTLS as `tls` says and `serverName` (the MX host name) as SNI:
    /// ready means ready for MAIL, TLS included. Fakes without TLS need not implement it.
    func openForRace(tls: TLSPolicy, serverName: String) async -> SMTPResult?
    /// QUIT without waiting for the reply, close the socket. Idempotent, any time.
    func close() async
    /// Closes (as ``close()``) and returns the conversation (credentials redacted) and
    /// the duration of each phase done: one call, so one hop to the session.
    func finish() async -> SessionRecord
}

/// What a connection recorded: its transcript and the time each step took.
struct SessionRecord: Sendable {
    var transcript: [TranscriptEntry]
    var timings: [SMTPStep: Duration]
    /// What STARTTLS negotiated; `nil` for a plaintext session.
    var tls: SMTPTLSInfo? = nil
}

extension SMTPConnection {
    /// A connection that knows no TLS opens as it always does.
    func openForRace(tls: TLSPolicy, serverName: String) async -> SMTPResult? {
        await openForRace()
    }
}

/// Makes connections; the real one makes `SMTPSession`s, tests make scripted fakes.
protocol SMTPDialer: Sendable {
    associatedtype Connection: SMTPConnection
    /// A connection to `server`, not yet opened (no I/O here). `patient`: for work nobody
    /// waits on (the queue's re-sends), with long step timeouts instead of interactive ones.
    func connection(to server: SocketAddress, patient: Bool) -> Connection
    /// Where the attempts' work should run (the sockets' event loop), or `nil` for Swift's
    /// global executor (fakes that use no socket).
    var preferredExecutor: (any TaskExecutor)? { get }
}

extension SMTPDialer {
    var preferredExecutor: (any TaskExecutor)? { nil }
}
