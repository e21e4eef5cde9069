import SMTPClient
import Sockets

/// The real dialer of the race: one `SMTPSession` per server address.
struct SessionDialer: SMTPDialer {
    let configuration: SMTPSessionConfiguration
    let loop: EventLoop

    func connection(to server: SocketAddress) -> SessionConnection {
        SessionConnection(SMTPSession(server: server, configuration: configuration, loop: loop))
    }

    /// Sessions run on their loop's thread: each reply resumes the session where the
    /// loop already is, with no wake-up of another thread.
    var preferredExecutor: (any TaskExecutor)? { loop }
}

/// An `SMTPSession` as the race sees it; transactions call ``session`` directly.
final class SessionConnection: SMTPConnection {
    let session: SMTPSession

    init(_ session: SMTPSession) {
        self.session = session
    }

    func open() async -> SessionResult? {
        await session.open().map(SessionResult.init)
    }

    func close() async {
        await session.close()
    }

    func finish() async -> SessionRecord {
        let (entries, steps) = await session.closeAndRecord()
        var timings: [TimingPhase: Duration] = [:]
        // One more for the DNS phase, which the attempt adds.
        timings.reserveCapacity(steps.count + 1)
        for (step, duration) in steps {
            guard let phase = TimingPhase(step) else { continue }
            timings[phase, default: .zero] += duration
        }
        return SessionRecord(
            transcript: Transcript(server: Self.label(session.server), entries: entries),
            timings: timings)
    }
}

extension SessionConnection {
    /// `server.description` ("192.0.2.1:25", "[2001:db8::1]:25"), without its cost for
    /// IPv4: `SocketAddress.ip` formats through `inet_ntop` (`sprintf`) into a buffer and
    /// interpolation allocates twice more, once per call; digits appended to a string
    /// that stays small (up to 15 bytes, e.g. "127.0.0.1:25") allocate nothing.
    static func label(_ server: SocketAddress) -> String {
        guard server.bytes.count == 4 else { return server.description }
        var text = String(server.bytes[0])
        for byte in server.bytes.dropFirst() {
            text += "."
            text += String(byte)
        }
        text += ":"
        text += String(server.port)
        return text
    }
}

extension SMTPSession {
    /// Closes the session and returns its transcript and timings, in one hop.
    fileprivate func closeAndRecord() async -> ([TranscriptEntry], [SMTPStep: Duration]) {
        await close()
        return (transcript, timings)
    }
}

extension SessionResult {
    /// The session's result as the core's.
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

extension TimingPhase {
    /// The phase an SMTP step's time counts in (AUTH with EHLO); `nil` for QUIT.
    init?(_ step: SMTPStep) {
        switch step {
        case .connect: self = .connect
        case .greeting: self = .greeting
        case .ehlo, .auth: self = .ehlo
        case .helo: self = .helo
        case .mail: self = .mail
        case .rcpt: self = .rcpt
        case .data: self = .data
        case .endOfData: self = .endOfData
        case .quit: return nil
        }
    }
}
