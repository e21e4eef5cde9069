import DNSClient
import DirectSMTPTesting
import Sockets
import Testing

/// Every DNS suite, one test at a time: they start sockets, processes and CPU-bound
/// loops, and running them side by side would only disturb the timing-sensitive socket
/// tests that share the process.
@Suite(.serialized, .timeLimit(.minutes(1)))
enum DNSClientTests {}

/// A cache clock the test moves by hand.
final class ManualClock: Sendable {
    private let base = ContinuousClock.now
    private let offset = Lock<Duration>(.zero)

    func advance(by duration: Duration) { offset.withLock { $0 += duration } }

    var now: @Sendable () -> ContinuousClock.Instant {
        { [self] in base + offset.withLock { $0 } }
    }
}

/// Starts a mock server, runs `body`, stops the server.
func withMockDNS<R>(_ body: (MockDNSServer) async throws -> R) async throws -> R {
    let server = try MockDNSServer.start()
    defer { server.stop() }
    return try await body(server)
}

func ip(_ text: String) -> IPAddress { IPAddress(text)! }

extension MXLookup {
    var answer: MXAnswer? {
        if case .found(let answer) = self { return answer }
        return nil
    }

    var noMailReason: NoMailServerReason? {
        if case .noMailServer(let reason) = self { return reason }
        return nil
    }

    var isUnavailable: Bool {
        if case .dnsUnavailable = self { return true }
        return false
    }
}

/// Polls `condition` every 5 ms until it holds or `limit` passes; whether it held.
func eventually(within limit: Duration, _ condition: () -> Bool) async -> Bool {
    let end = ContinuousClock.now + limit
    while !condition() {
        guard ContinuousClock.now < end else { return condition() }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return true
}

extension MXResolver {
    /// Nothing left running: no lookup, no query, no waiter for a slot, no socket.
    nonisolated var isIdle: Bool {
        lookupsInFlight == 0 && client.queriesInFlight == 0 && client.queriesWaiting == 0
            && client.openSockets == 0
    }
}
