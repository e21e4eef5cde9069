// `large`: one big message (30 MB by default) through the coordinator to a server that
// reads slowly, and the client's peak RSS over its baseline (the target: at most
// twice the message's size). The server is a minimal SMTP responder of this file that
// throws the message away as it reads it at `--read-mbps`, so the process's memory is the
// client's (the in-process mock would keep the message).

import DNSClient
import DirectSMTP
import DirectSMTPTesting
import SMTPClient
import Sockets
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

enum LargeMessageBenchmark {
    static func run(_ arguments: [String]) async -> Int32 {
        let options = BenchOptions(arguments)
        let megabytes = min(max(1, options.int("--megabytes", default: 30)), 500)
        let readRate = max(1, options.int("--read-mbps", default: 10))
        let json = options.has("--json")
        do {
            let server = try SlowReadingSMTPServer(bytesPerSecond: readRate << 20)
            let dns = try MockDNSServer.start()
            defer {
                server.stop()
                dns.stop()
            }
            dns.setMailDomain("large.bench", [(10, "mx.large.bench", ["127.0.0.1"])])
            var configuration = VerificationCoordinator.Configuration(
                heloName: "client.bench", nameservers: [dns.address], smtpPort: server.port)
            configuration.refusesNonPublicAddresses = false  // the bench servers are on loopback
            // The transfer takes size / rate; the end-of-data step must outlast it.
            configuration.timeouts.endOfData = .seconds(60 + 2 * megabytes / readRate)
            let coordinator = try VerificationCoordinator(configuration: configuration)
            let from = try EmailAddress("bench@client.bench")
            let to = try EmailAddress("user@large.bench")
            let budget = Duration.seconds(120 + 2 * megabytes / readRate)

            // A warm-up send, so lazily made state (the loop, caches) is in the baseline.
            let small = await coordinator.send(Message(from: from, to: to, subject: "warm-up", text: "x\n"), budget: budget)
            guard small.reason == .accepted else {
                print("large: the warm-up send failed: \(small.json)")
                return 1
            }
            // ASCII lines of 76 characters: 7-bit text the composer keeps as it is.
            let line = String(repeating: "0123456789abcdefghijklmnopqrstuvwxyz", count: 2) + "ABCD\n"
            let text = String(repeating: line, count: (megabytes << 20) / line.utf8.count)
            let message = Message(from: from, to: to, subject: "large", text: text)
            let bytes = text.utf8.count
            // The peak from here on: clear_refs "5" resets VmHWM to the current RSS.
            resetPeakRSS()
            let baseline = memoryKiB("VmRSS")
            // The composer's share of the peak, apart from the transaction's.
            let composed = message.encoded()
            let composePeak = memoryKiB("VmHWM")
            withExtendedLifetime(composed) {}
            resetPeakRSS()
            let clock = ContinuousClock()
            let start = clock.now
            let outcome = await coordinator.send(message, budget: budget)
            let elapsed = start.duration(to: clock.now)
            let peak = memoryKiB("VmHWM")
            let overheadBytes = Double(peak - baseline) * 1024
            report("large message to a slow reader", [
                "messageBytes": bytes,
                "readMBps": readRate,
                "outcome": outcome.reason.rawValue,
                "serverReceivedBytes": server.receivedBytes,
                "seconds": rounded(elapsed.seconds),
                "baselineRSSKiB": baseline,
                "peakRSSKiB": peak,
                "composeOnlyPeakOverBaselineMiB": rounded(Double(composePeak - baseline) / 1024),
                "peakOverBaselineMiB": rounded(overheadBytes / 1_048_576),
                "peakOverBaselineTimesMessage": rounded(overheadBytes / Double(bytes)),
            ], json: json)
            return outcome.reason == .accepted ? 0 : 1
        } catch {
            print("large message benchmark failed: \(error)")
            return 1
        }
    }

    /// Resets the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux ≥ 4.0).
    static func resetPeakRSS() {
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        guard fd >= 0 else { return }
        _ = write(fd, "5", 1)
        close(fd)
    }
}

/// A one-connection-at-a-time SMTP server on loopback that answers every command at once,
/// offers PIPELINING, 8BITMIME and SIZE, and reads a message's DATA at a bounded rate,
/// keeping none of it.
final class SlowReadingSMTPServer: Sendable {
    private let listener: TCPListener
    private let task: Task<Void, Never>
    private let received = ByteCounter()

    var port: Int { listener.localAddress.port }
    /// The message bytes read so far.
    var receivedBytes: Int { received.count.load(ordering: .relaxed) }

    init(bytesPerSecond: Int) throws {
        let listener = try TCPListener.bind(to: try SocketAddress(ip: "127.0.0.1", port: 0))
        self.listener = listener
        let received = self.received
        task = Task {
            while let connection = try? await listener.accept() {
                await Self.serve(connection, bytesPerSecond: bytesPerSecond, received: received)
                connection.close()
            }
        }
    }

    func stop() {
        listener.close()
        task.cancel()
    }

    private static func serve(_ connection: TCPConnection, bytesPerSecond: Int, received: ByteCounter) async {
        let deadline = ContinuousClock.now + .seconds(600)
        do {
            try await connection.write(Array("220 slow.bench ESMTP\r\n".utf8), deadline: deadline)
            var pending: [UInt8] = []
            while true {
                guard let newline = pending.firstIndex(of: 0x0A) else {
                    guard try await connection.read(appendingTo: &pending, deadline: deadline) > 0 else { return }
                    continue
                }
                let command = String(decoding: pending[..<newline], as: UTF8.self).uppercased()
                pending.removeSubrange(...newline)
                if command.hasPrefix("EHLO") {
                    try await connection.write(
                        Array("250-slow.bench\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 1073741824\r\n".utf8),
                        deadline: deadline)
                } else if command.hasPrefix("DATA") {
                    try await connection.write(Array("354 go on\r\n".utf8), deadline: deadline)
                    pending = try await readMessage(
                        connection, after: pending, bytesPerSecond: bytesPerSecond, received: received,
                        deadline: deadline)
                    try await connection.write(Array("250 2.0.0 thrown away\r\n".utf8), deadline: deadline)
                } else if command.hasPrefix("QUIT") {
                    try await connection.write(Array("221 bye\r\n".utf8), deadline: deadline)
                    return
                } else {
                    try await connection.write(Array("250 ok\r\n".utf8), deadline: deadline)
                }
            }
        } catch {
            return
        }
    }

    /// Reads up to the final `CRLF.CRLF` at about `bytesPerSecond`; returns what followed it.
    private static func readMessage(
        _ connection: TCPConnection, after start: [UInt8], bytesPerSecond: Int, received: ByteCounter,
        deadline: ContinuousClock.Instant
    ) async throws -> [UInt8] {
        let end: [UInt8] = [0x0D, 0x0A, 0x2E, 0x0D, 0x0A]
        var window = start
        let began = ContinuousClock.now
        var total = 0
        while true {
            if let range = window.firstRange(of: end) { return Array(window[range.upperBound...]) }
            // Keep only what could begin the terminator.
            if window.count > 4 { window.removeFirst(window.count - 4) }
            let read = try await connection.read(appendingTo: &window, maxBytes: 64 << 10, deadline: deadline)
            guard read > 0 else { throw SocketError(.closed, "the client closed mid-message") }
            total += read
            received.count.add(read, ordering: .relaxed)
            let due = began + .milliseconds(Int64(total) * 1000 / Int64(bytesPerSecond))
            if due > .now { try await Task.sleep(until: due) }
        }
    }
}

/// The bytes a server read, shared with the task that reads them.
final class ByteCounter: Sendable {
    let count = Atomic<Int>(0)
}
