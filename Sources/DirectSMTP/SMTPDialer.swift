import Sockets

/// How an SMTP step ended, as the racing core needs it: the session's `SMTPVerdict`.
enum SessionVerdict: Sendable, Hashable {
    case accepted
    case senderRejected
    case recipientRejected
    case temporaryFailure
    /// Connect failure, timeout, 4xx or EOF before the session was ready: try the next host.
    case unreachable
}

/// The result of one SMTP step or transaction, mirroring the session's `SMTPResult`.
struct SessionResult: Sendable, Hashable {
    var verdict: SessionVerdict
    /// Where it was decided.
    var phase: TimingPhase
    /// The deciding reply, if a server reply decided.
    var reply: DecidingReply?
    /// A human detail ("timed out waiting for the greeting").
    var detail: String?
}

/// One SMTP connection to one server address, as the race drives it: `openForRace()`
/// (connect, greeting, EHLO), then a transaction run by the caller, then `close()`.
protocol SMTPConnection: AnyObject, Sendable {
    /// Connect + 220 greeting + EHLO. `nil` when ready for a transaction, otherwise why
    /// not (`.unreachable` or `.senderRejected`). Returns promptly when cancelled.
    func openForRace() async -> SessionResult?
    /// QUIT without waiting for the reply, close the socket. Idempotent, any time.
    func close() async
    /// Closes (as ``close()``) and returns the conversation (credentials redacted) and
    /// the duration of each phase done: one call, so one hop to the session.
    func finish() async -> SessionRecord
}

/// What a connection recorded: its transcript and per-phase durations.
struct SessionRecord: Sendable {
    var transcript: Transcript
    var timings: Timings

    init(transcript: Transcript, timings: Timings) {
        self.transcript = transcript
        self.timings = timings
    }

    init(transcript: [TranscriptLine], timings: [TimingPhase: Duration]) {
        self.init(transcript: Transcript(transcript), timings: Timings(timings))
    }
}

/// Makes connections; the real one makes `SMTPSession`s, tests make scripted fakes.
protocol SMTPDialer: Sendable {
    associatedtype Connection: SMTPConnection
    /// A connection to `server`, not yet opened (no I/O here). `patient`: for work nobody
    /// waits on (the queue's re-sends), with long step timeouts instead of interactive ones.
    func connection(to server: SocketAddress, patient: Bool) -> Connection
    /// Where attempts using these connections should run (the sockets' event loop), or
    /// `nil` for Swift's global executor.
    var preferredExecutor: (any TaskExecutor)? { get }
}

extension SMTPDialer {
    var preferredExecutor: (any TaskExecutor)? { nil }
}
