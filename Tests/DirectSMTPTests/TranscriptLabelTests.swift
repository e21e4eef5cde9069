import Sockets
import Testing

@testable import DirectSMTP

/// The transcript's server label is made without `SocketAddress.description` on the hot
/// path; it must read exactly the same.
@Suite("Transcript server label", .timeLimit(.minutes(1)))
struct TranscriptLabelTests {
    @Test(
        "The label equals SocketAddress.description",
        arguments: [
            ("127.0.0.1", 25), ("0.0.0.0", 0), ("255.255.255.255", 65535), ("192.0.2.10", 2525),
            ("10.1.20.255", 587), ("::1", 25), ("2001:db8::1", 25), ("::ffff:192.0.2.1", 25),
        ])
    func labelMatchesDescription(ip: String, port: Int) throws {
        let address = try SocketAddress(ip: ip, port: port)
        #expect(address.transcriptLabel == address.description)
    }
}
