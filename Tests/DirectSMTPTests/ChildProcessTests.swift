import ChildProcess
import Foundation
import Glibc
import Testing

/// The spawner the CLI and crash tests run our executables with (Tests/ChildProcess says
/// why it replaced Foundation's Process). Its children are /bin/sh one-liners.
@Suite("Test support: ChildProcess", .timeLimit(.minutes(1)))
struct ChildProcessTests {
    @Test("exit codes, both streams and a last line without a newline come back")
    func collectsOutput() async throws {
        let run = try await ChildProcess.run(
            "/bin/sh", ["-c", "printf 'one\\ntwo'; printf 'oops' >&2; exit 7"], limit: .seconds(10))
        #expect(run.termination == .exited(7))
        #expect(run.stdout == "one\ntwo" && run.stderr == "oops")
        #expect(run.lines.map(\.text) == ["one", "two"])
        #expect(!run.killed)
    }

    @Test("a child outliving its limit is killed, and the run says so")
    func limitKills() async throws {
        let start = ContinuousClock.now
        let run = try await ChildProcess.run("/bin/sh", ["-c", "exec sleep 30"], limit: .milliseconds(300))
        #expect(run.killed && run.termination == .signalled(SIGKILL) && run.status == 137)
        #expect(start.duration(to: .now) < .seconds(5))
    }

    @Test("with 2,000 descriptors open in the parent, the child inherits none but 0, 1 and 2")
    func inheritsNoDescriptors() async throws {
        // The load that crashed Foundation's Process.run() in CI (it lists /proc/self/fd);
        // dup() leaves FD_CLOEXEC clear, so only closefrom keeps these out of the child.
        let source = open("/dev/null", O_RDONLY)
        try #require(source >= 0)
        var extra: [Int32] = []
        defer { for fd in extra + [source] { close(fd) } }
        for _ in 0..<2_000 {
            let fd = dup(source)
            guard fd >= 0 else { break }
            extra.append(fd)
        }
        try #require(extra.count >= 1_500, "could open only \(extra.count) descriptors")
        // ls opens its own directory descriptor; everything else listed was inherited.
        let run = try await ChildProcess.run(
            "/bin/sh", ["-c", "exec ls /proc/self/fd"], limit: .seconds(10))
        let listed = Set(run.lines.compactMap { Int32($0.text) })
        let inherited = listed.intersection(extra)
        #expect(run.status == 0)
        #expect(listed.subtracting([0, 1, 2]).count <= 1, "\(listed.count) descriptors open")
        #expect(inherited.isEmpty, "the child inherited \(inherited.count) of the parent's")
    }

    @Test("a spawned child is signalled and reaped once, without blocking")
    func signalAndReap() async throws {
        let child = try ChildProcess(
            "/bin/sh", ["-c", "exec sleep 30"], standardOutput: .discard, standardError: .discard)
        #expect(child.exitIfDone() == nil)
        child.signal(SIGTERM)
        let deadline = ContinuousClock.now + .seconds(5)
        while child.exitIfDone() == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(child.exitIfDone() == .signalled(SIGTERM))
        child.signal(SIGKILL)  // reaped: reaches no one
        #expect(child.exitIfDone() == .signalled(SIGTERM))
    }

    @Test("a missing executable is a thrown error")
    func missingExecutable() {
        #expect(throws: ChildProcessError.self) {
            _ = try ChildProcess("/nonexistent/directsmtp", [])
        }
    }
}
