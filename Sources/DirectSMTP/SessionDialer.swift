import SMTPClient
import Sockets

/// The real dialer of the race: one `SMTPSession` per server address.
struct SessionDialer: SMTPDialer {
    let configuration: SMTPSessionConfiguration
    /// The same, with the timeouts of the queue's re-sends.
    let patientConfiguration: SMTPSessionConfiguration
    let loop: EventLoop

    @inline(never)  // the session's construction stays out of the race's async frame
    func connection(to server: SocketAddress, patient: Bool) -> SMTPSession {
        SMTPSession(
            server: server, configuration: patient ? patientConfiguration : configuration,
            loop: loop)
    }

    /// Sessions run on their loop's thread: each reply resumes the session where the
    /// loop already is, with no wake-up of another thread.
    var preferredExecutor: (any TaskExecutor)? { loop }
}

/// The session is the race's connection itself: no wrapper object per call, and each
/// step is one hop onto the session's actor. Transactions call `send`/`probe` on it.
extension SMTPSession: SMTPConnection {
    func openForRace() async -> SessionResult? {
        guard let failure = await open() else { return nil }
        return SessionResult(failure)
    }

    func finish() async -> SessionRecord {
        await close()
        return SessionRecord(
            transcript: Transcript(server: server.transcriptLabel, entries: transcript),
            timings: Timings(steps: timings))
    }
}

extension SocketAddress {
    /// `description` ("192.0.2.1:25", "[2001:db8::1]:25"), as the transcript labels its
    /// lines, without interpolation's buffer for IPv4: appending to a small string
    /// allocates nothing while it fits in 15 bytes ("192.0.2.1:25" does).
    var transcriptLabel: String {
        guard bytes.count == 4 else { return description }
        var text = ip
        text += ":"
        text += String(port)
        return text
    }
}

extension SessionResult {
    /// The session's result as the core's.
    @inline(never)  // keeps its temporaries out of the async frames that call it
    init(_ result: SMTPResult) {
        let verdict: SessionVerdict =
            switch result.verdict {
            case .accepted: .accepted
            case .senderRejected: .senderRejected
            case .recipientRejected: .recipientRejected
            case .temporaryFailure: .temporaryFailure
            case .unreachable: .unreachable
            }
        self.init(
            verdict: verdict,
            phase: TimingPhase(result.step) ?? .endOfData,
            reply: result.reply.map {
                DecidingReply(code: $0.code, enhanced: $0.enhancedCode, text: $0.text)
            },
            detail: result.detail)
    }
}
