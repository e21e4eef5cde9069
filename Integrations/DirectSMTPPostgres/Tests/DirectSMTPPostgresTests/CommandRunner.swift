import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs one of this package's executables as a script would, its output going to files
/// (no pipe to drain, no thread blocked), and reaps it within a bound (``spawnProcess``).
struct CommandRunner {
    struct Run: CustomStringConvertible {
        var status: Int32
        var stdout: String
        var stderr: String

        var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }

        /// stdout's lines parsed as JSON objects (a line that is not one fails the test
        /// through the caller's `#require`).
        var jsonLines: [[String: Any]] {
            stdout.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The executable `name`, built beside the test bundle.
    let executable: String
    /// Variables set in the child's environment besides this process's.
    var environment: [String: String] = [:]

    init(_ name: String, environment: [String: String] = [:]) throws {
        executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw Failure(description: "no executable at \(executable); build it first (swift build --build-tests)")
        }
        self.environment = environment
    }

    /// Runs the executable with `arguments`; kills it if it has not finished within `timeout`.
    func run(_ arguments: [String], timeout: Duration = .seconds(30)) async throws -> Run {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "directsmtp-postgres-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("out").path
        let err = folder.appendingPathComponent("err").path

        let pid = try spawnProcess(executable, arguments, stdout: out, stderr: err, environment: environment)
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) != pid {
            guard ContinuousClock.now < deadline else {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw Failure(description: "\(arguments) did not finish within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        // WIFEXITED / WEXITSTATUS, which Glibc does not export to Swift.
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
        return Run(
            status: code, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }
}
