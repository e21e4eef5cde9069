import DirectSMTPTesting
import Dispatch
import Foundation
import Testing

/// `send`'s two-line behaviour as a script sees it through a pipe: the deferred verdict
/// must arrive when the budget ends, not when the process exits.
@Suite("directsmtp send, streamed", .serialized, .timeLimit(.minutes(1)))
struct CLIStreamingTests {
    @Test(
        "send --json through a pipe: the budget-exceeded line arrives at the budget, the final one later"
    )
    func deferredLineIsNotBuffered() async throws {
        // The reply after the final dot comes 4 s after it (the CLI waits 5 s for it); the
        // budget is 2.5 s. An address literal keeps DNS out of the way, and the margins are
        // wide: other suites load the machine, and this mock runs in the test process.
        var script = MockSMTPScript()
        script.endOfData = MockSMTPResponse.reply(250, "2.0.0 OK queued").delayed(by: .seconds(4))
        script.recordsReads = false
        let smtp = try MockSMTPServer.start(script)
        defer { smtp.stop() }
        let lines = try await runCLIStreaming([
            "send", "--to", "slow@[127.0.0.1]", "--from", "app@client.test", "--helo",
            "client.test", "--port", "\(smtp.port)", "--budget", "2.5", "--json",
        ])
        try #require(lines.count == 2, "\(lines)")
        #expect(lines[0].text.contains(#""reason":"budget-exceeded""#))
        #expect(lines[1].text.contains(#""reason":"accepted""#))
        // The final line comes about 1.5 s after the first; a buffered first line would come
        // with it, at exit.
        let gap = lines[1].arrived - lines[0].arrived
        #expect(gap > .milliseconds(700), "the first line came \(gap) before the last")
        #expect(smtp.deliveryCount == 1)
    }
}

struct StreamedLine: Sendable {
    var text: String
    var arrived: ContinuousClock.Instant
}

/// Runs `directsmtp` and records when each line of its standard output arrived (the
/// blocking reads run on a thread of their own, as `runCLI`'s).
func runCLIStreaming(_ arguments: [String], limit: Duration = .seconds(20)) async throws
    -> [StreamedLine]
{
    let executable = try directsmtpExecutable()
    let (seconds, _) = limit.components
    return try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            let process = Process()
            // At a low CPU priority, as runCLI: the socket suites beside it time deadlines.
            if FileManager.default.isExecutableFile(atPath: "/usr/bin/nice") {
                process.executableURL = URL(fileURLWithPath: "/usr/bin/nice")
                process.arguments = ["-n", "19", executable.path] + arguments
            } else {
                process.executableURL = executable
                process.arguments = arguments
            }
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
        thread.start()
    }
}
