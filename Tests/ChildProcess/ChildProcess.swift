// Child processes for the tests that run our executables, without Foundation's Process.
//
// Why not Process: on Linux, swift-corelibs-foundation's Process.run() lists
// /proc/self/fd to find descriptors to close, and copies each entry's 256-byte name
// out of readdir's buffer whatever the entry's real length. With about 1,360 descriptors
// open (the socket suites open 2,000 beside the CLI suites) the last entry sits at the end
// of that buffer and the copy reads past it: CI crashed with SIGSEGV there. posix_spawn
// with closefrom needs no listing at all.

import CChildProcess
import Foundation
import Glibc
import Sockets

/// Why a child could not be started.
public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
    init(_ what: String, errno code: Int32) {
        description = "\(what): \(String(cString: strerror(code)))"
    }
}

/// The spawn functions return their error number rather than setting errno.
private func check(_ result: Int32, _ what: String) throws {
    guard result == 0 else { throw ChildProcessError("posix_spawn_file_actions_\(what)", errno: result) }
}

/// A process started with `posix_spawn`: standard input from /dev/null, standard output
/// and error to pipes or files, every other descriptor closed in the child.
///
/// The caller reaps it, with ``waitForExit()`` (blocking) or ``exitIfDone()``; until then
/// its pid cannot be reused, so ``signal(_:)`` never reaches another process.
public final class ChildProcess: Sendable {
    /// Where one of the child's output streams goes.
    public enum Output: Sendable {
        /// A pipe whose read end the parent gets (``standardOutput``/``standardError``).
        case pipe
        /// A file, created or truncated.
        case file(String)
        /// /dev/null.
        case discard
    }

    /// How the child ended.
    public enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)

        /// The exit code, or 128 + the signal as a shell reports it.
        public var status: Int32 {
            switch self {
            case .exited(let code): code
            case .signalled(let signal): 128 + signal
            }
        }
    }

    public let pid: pid_t
    /// The read end of the child's standard output when it is a pipe; the caller closes it.
    public let standardOutput: Int32?
    /// The read end of the child's standard error when it is a pipe; the caller closes it.
    public let standardError: Int32?
    private let termination = Lock<Termination?>(nil)

    /// Starts `executable` with `arguments`, in this process's environment.
    public init(
        _ executable: String, _ arguments: [String], standardOutput: Output = .pipe,
        standardError: Output = .pipe
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var parentEnds: [Int32] = []
        var childEnds: [Int32] = []
        defer { for fd in childEnds { close(fd) } }

        func route(_ output: Output, to target: Int32) throws -> Int32? {
            switch output {
            case .pipe:
                var ends: [Int32] = [-1, -1]
                guard pipe(&ends) == 0 else { throw ChildProcessError("pipe", errno: errno) }
                // Glibc's overlay lacks pipe2; the moment without FD_CLOEXEC is harmless,
                // as every child of the tests is spawned here, closing all but 0, 1 and 2.
                for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
                parentEnds.append(ends[0])
                childEnds.append(ends[1])
                try check(
                    posix_spawn_file_actions_adddup2(&actions, ends[1], target), "adddup2")
                return ends[0]
            case .file(let path):
                try check(
                    posix_spawn_file_actions_addopen(
                        &actions, target, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644),
                    "addopen \(path)")
                return nil
            case .discard:
                try check(
                    posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0),
                    "addopen /dev/null")
                return nil
            }
        }

        do {
            try check(
                posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0),
                "addopen /dev/null")
            let out = try route(standardOutput, to: 1)
            let err = try route(standardError, to: 2)
            // ENOSYS before glibc 2.34: these tests then cannot keep other descriptors out.
            try check(
                directsmtp_spawn_file_actions_addclosefrom(&actions, 3),
                "posix_spawn_file_actions_addclosefrom_np")
            // The child starts as a shell would start it: no signal blocked, SIGPIPE not
            // ignored (a test process may ignore it, and exec keeps ignored signals).
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }
            var none = sigset_t()
            sigemptyset(&none)
            posix_spawnattr_setsigmask(&attributes, &none)
            var pipeSignal = sigset_t()
            sigemptyset(&pipeSignal)
            sigaddset(&pipeSignal, SIGPIPE)
            posix_spawnattr_setsigdefault(&attributes, &pipeSignal)
            posix_spawnattr_setflags(
                &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

            let argv = ([executable] + arguments).map { strdup($0) }
            defer { for argument in argv { free(argument) } }
            var spawned = pid_t()
            let result = (argv + [nil]).withUnsafeBufferPointer { argvBuffer in
                posix_spawn(
                    &spawned, executable, &actions, &attributes,
                    UnsafeMutablePointer(mutating: argvBuffer.baseAddress!), environ)
            }
            guard result == 0 else {
                throw ChildProcessError("posix_spawn \(executable)", errno: result)
            }
            pid = spawned
            self.standardOutput = out
            self.standardError = err
        } catch {
            for fd in parentEnds { close(fd) }
            throw error
        }
    }

    /// Sends `signal` unless the child has already been reaped.
    public func signal(_ signal: Int32) {
        termination.withLock { ended in
            if ended == nil { _ = kill(pid, signal) }
        }
    }

    /// Reaps the child if it has ended; never blocks.
    public func exitIfDone() -> Termination? {
        termination.withLock { ended in
            if ended == nil { ended = reap(options: WNOHANG) }
            return ended
        }
    }

    /// Blocks the calling thread until the child ends, then reaps it. Never call it on
    /// the cooperative pool.
    public func waitForExit() -> Termination {
        // Wait without reaping, so that signal() can still not reach a reused pid.
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0, errno == EINTR {}
        while true {
            if let ended = exitIfDone() { return ended }
            usleep(1000)
        }
    }

    /// waitpid under the lock; nil while the child runs.
    private func reap(options: Int32) -> Termination? {
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, options) } while result == -1 && errno == EINTR
        guard result == pid else { return nil }
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    deinit {
        // Best effort against a zombie if a test dropped a running child.
        if termination.withLock({ $0 }) == nil {
            var status: Int32 = 0
            _ = waitpid(pid, &status, WNOHANG)
        }
    }
}

/// What a child run to completion printed, and how it ended.
public struct ChildRun: Sendable {
    /// One line of standard output, and when the parent read it.
    public struct Line: Sendable {
        public var text: String
        public var arrived: ContinuousClock.Instant
    }

    public var termination: ChildProcess.Termination
    public var stdout: String
    public var stderr: String
    /// Standard output split at newlines (a last unterminated line included).
    public var lines: [Line]
    /// True when the child outlived `limit` and was killed.
    public var killed: Bool

    /// The exit code, or 128 + the signal.
    public var status: Int32 { termination.status }
}

extension ChildProcess {
    /// Runs `executable` to completion and collects its output, killing it with SIGKILL
    /// after `limit`. The blocking reads and the wait run on a thread of their own, never
    /// on the cooperative pool nor on Dispatch's global queues (a blocked worker there
    /// starves the suites beside, which time their deadlines).
    ///
    /// With `lowPriority` the child runs under `nice -n 19` when /usr/bin/nice exists.
    public static func run(
        _ executable: String, _ arguments: [String], limit: Duration = .seconds(20),
        lowPriority: Bool = false
    ) async throws -> ChildRun {
        let command =
            lowPriority && access("/usr/bin/nice", X_OK) == 0
            ? ("/usr/bin/nice", ["-n", "19", executable] + arguments) : (executable, arguments)
        // The spawn too: posix_spawn holds its thread until the child has exec'd.
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    let child = try ChildProcess(command.0, command.1)
                    continuation.resume(returning: child.collect(limit: limit))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
    }

    /// Reads both pipes to their end (killing the child at `limit`), then reaps it.
    private func collect(limit: Duration) -> ChildRun {
        let deadline = ContinuousClock.now + limit
        var killed = false
        var out: [UInt8] = []
        var err: [UInt8] = []
        var lines: [ChildRun.Line] = []
        var lineStart = 0
        var open = [standardOutput, standardError].compactMap { $0 }
        defer { for fd in [standardOutput, standardError].compactMap({ $0 }) { close(fd) } }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        // After the kill the pipes close at once; a grandchild holding them is not waited
        // for more than 5 s.
        var giveUpAt = deadline + .seconds(5)
        while !open.isEmpty, ContinuousClock.now < giveUpAt {
            if !killed, ContinuousClock.now >= deadline {
                signal(SIGKILL)
                killed = true
                giveUpAt = ContinuousClock.now + .seconds(5)
            }
            var polls = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let until = killed ? giveUpAt : deadline
            let wait = ContinuousClock.now.duration(to: until) / .milliseconds(1)
            let milliseconds = Int32(max(0, min(wait, 60_000))) + 1
            guard poll(&polls, nfds_t(polls.count), milliseconds) >= 0 || errno == EINTR else {
                break
            }
            for entry in polls where entry.revents != 0 {
                let count = read(entry.fd, &chunk, chunk.count)
                if count < 0, errno == EINTR || errno == EAGAIN { continue }
                if count <= 0 {
                    open.removeAll { $0 == entry.fd }
                    continue
                }
                if entry.fd == standardOutput {
                    let now = ContinuousClock.now
                    out += chunk[..<count]
                    while let newline = out[lineStart...].firstIndex(of: 0x0A) {
                        lines.append(
                            .init(
                                text: String(decoding: out[lineStart..<newline], as: UTF8.self),
                                arrived: now))
                        lineStart = newline + 1
                    }
                } else {
                    err += chunk[..<count]
                }
            }
        }
        if lineStart < out.count {
            lines.append(
                .init(
                    text: String(decoding: out[lineStart...], as: UTF8.self),
                    arrived: ContinuousClock.now))
        }
        // A child that closed its output may still run: it too gets the limit.
        while exitIfDone() == nil, !killed {
            if ContinuousClock.now >= deadline {
                signal(SIGKILL)
                killed = true
            } else {
                usleep(1000)
            }
        }
        return ChildRun(
            termination: waitForExit(),
            stdout: String(decoding: out, as: UTF8.self),
            stderr: String(decoding: err, as: UTF8.self),
            lines: lines, killed: killed)
    }
}
