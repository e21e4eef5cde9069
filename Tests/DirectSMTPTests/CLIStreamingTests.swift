import Dispatch
import Foundation
import Testing

/// `send`'s two-line behaviour as a script sees it through a pipe: the deferred verdict
/// must arrive when the budget ends, not when the process exits.
@Suite("directsmtp send, streamed", .serialized, .timeLimit(.minutes(1)))
struct CLIStreamingTests {
    @Test("send --json through a pipe: the budget-exceeded line arrives at the budget, the final one later")
    func deferredLineIsNotBuffered() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        // RCPT of slow@ok.test is answered after 2 s; the budget is 0.5 s.
        let lines = try await runCLIStreaming([
            "send", "--to", "slow@ok.test", "--from", "app@client.test", "--helo", "client.test",
            "--dns", "\(world.dns.address)", "--port", "\(world.port)", "--budget", "0.5", "--json",
        ])
        try #require(lines.count == 2, "\(lines)")
        #expect(lines[0].text.contains(#""reason":"budget-exceeded""#))
        #expect(lines[1].text.contains(#""reason":"accepted""#))
        // The final line comes about 1.5 s after the first; a buffered first line would come
        // with it, at exit.
        let gap = lines[1].arrived - lines[0].arrived
        #expect(gap > .milliseconds(800), "the first line came \(gap) before the last")
        #expect(world.smtp.deliveryCount == 1)
    }
}

struct StreamedLine: Sendable {
    var text: String
    var arrived: ContinuousClock.Instant
}

/// Runs `directsmtp` and records when each line of its standard output arrived (the
/// blocking reads run on a Dispatch thread, never on the cooperative pool).
func runCLIStreaming(_ arguments: [String], limit: Duration = .seconds(20)) async throws
    -> [StreamedLine]
{
    let executable = try directsmtpExecutable()
    let (seconds, _) = limit.components
    return try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            let process = Process()
            process.executableURL = executable
            process.arguments = arguments
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            do {
                try process.run()
            } catch {
                continuation.resume(throwing: error)
                return
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(Int(seconds))) {
                if process.isRunning { process.terminate() }
            }
            var lines: [StreamedLine] = []
            var pending: [UInt8] = []
            while true {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                let now = ContinuousClock.now
                pending += chunk
                while let newline = pending.firstIndex(of: 0x0A) {
                    lines.append(
                        StreamedLine(
                            text: String(decoding: pending[..<newline], as: UTF8.self),
                            arrived: now))
                    pending.removeSubrange(...newline)
                }
            }
            process.waitUntilExit()
            continuation.resume(returning: lines)
        }
    }
}
