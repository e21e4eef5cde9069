import SMTPClient
import Sockets

/// The real dialer of the race: one `SMTPSession` per server address.
struct SessionDialer: SMTPDialer {
    let configuration: SMTPSessionConfiguration
    /// The same, with the timeouts of the queue's re-sends.
    let patientConfiguration: SMTPSessionConfiguration
    let loop: EventLoop

    /// Sessions run on their loop's thread: each reply resumes the session where the
    /// loop already is, with no wake-up of another thread.
    var preferredExecutor: (any TaskExecutor)? { loop }

    func connection(to server: SocketAddress, patient: Bool) -> SMTPSession {
        SMTPSession(
            server: server, configuration: patient ? patientConfiguration : configuration,
            loop: loop)
    }
}

/// The session is the race's connection itself: no wrapper object per call, and each
/// step is one hop onto the session's actor. Transactions call `send`/`probe` on it.
extension SMTPSession: SMTPConnection {
    func openForRace() async -> SMTPResult? {
        await open()
    }

    func openForRace(tls: TLSPolicy, serverName: String) async -> SMTPResult? {
        await open(tls: tls, serverName: serverName)
    }

    func finish() async -> SessionRecord {
        await close()
        return SessionRecord(transcript: transcript, timings: timings, tls: tls)
    }
}
