import SMTPClient
import Sockets

/// The real dialer of the race: one `SMTPSession` per server address.
struct SessionDialer: SMTPDialer {
    let configuration: SMTPSessionConfiguration
    let loop: EventLoop

    func connection(to server: SocketAddress) -> SessionConnection {
        SessionConnection(SMTPSession(server: server, configuration: configuration, loop: loop))
    }
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
        let server = session.server.description
        var timings: [TimingPhase: Duration] = [:]
        timings.reserveCapacity(steps.count)
        for (step, duration) in steps {
            guard let phase = TimingPhase(step) else { continue }
            timings[phase, default: .zero] += duration
        }
        return SessionRecord(
            transcript: entries.map { entry in
                TranscriptLine(
                    server: server, direction: entry.direction == .sent ? .client : .server,
                    text: entry.text)
            },
            timings: timings)
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
