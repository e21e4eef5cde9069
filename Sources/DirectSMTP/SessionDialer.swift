import SMTPClient
import Sockets

/// The real dialer of the race: one `SMTPSession` per server address.
struct SessionDialer: SMTPDialer {
    let configuration: SMTPSessionConfiguration
    /// The same, with the timeouts of the queue's re-sends.
    let patientConfiguration: SMTPSessionConfiguration
    let loop: EventLoop

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
