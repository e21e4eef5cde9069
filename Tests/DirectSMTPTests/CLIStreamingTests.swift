import ChildProcess
import DirectSMTPTesting
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

/// Runs `directsmtp` (as `runCLI` does) and records when each line of its standard output
/// arrived.
func runCLIStreaming(_ arguments: [String], limit: Duration = .seconds(20)) async throws
    -> [ChildRun.Line]
{
    try await ChildProcess.run(
        try directsmtpExecutable().path, arguments, limit: limit, lowPriority: true
    ).lines
}
