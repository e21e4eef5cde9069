// `dkim`: DKIM signatures per second of a typical 2 KiB verification message, rsa-sha256
// (2048 bits) against `openssl speed rsa2048`'s sign/s measured in the same run, and
// ed25519-sha256. Single-threaded, like `openssl speed`, and like it divided by user CPU
// time (its default), so a machine shared with other work compares fairly; wall-clock
// rates are printed beside.

import DKIM
import Foundation
import SMTPClient

enum DKIMBenchmark {
    static func run(_ arguments: [String]) async -> Int32 {
        let options = BenchOptions(arguments)
        let seconds = max(1, options.int("--seconds", default: 3))
        let json = options.has("--json")
        #if OpenSSL
            do {
                let directory = NSTemporaryDirectory() + "directsmtp-bench-dkim-\(getpid())"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(atPath: directory) }
                let rsaPath = try options.string("--rsa-key") ?? generate("RSA", ["-pkeyopt", "rsa_keygen_bits:2048"], in: directory)
                let edPath = try options.string("--ed25519-key") ?? generate("ED25519", [], in: directory)
                let rsa = try DKIMSigner(key: DKIMPrivateKey(contentsOf: rsaPath), selector: "bench")
                let ed = try DKIMSigner(key: DKIMPrivateKey(contentsOf: edPath), selector: "bench")
                let data = message()
                // Ours, openssl, ours again: the machine's load changes over seconds.
                let before = try signsPerSecond(data, rsa, seconds: seconds)
                let openssl = try opensslSpeed(seconds: seconds)
                let after = try signsPerSecond(data, rsa, seconds: seconds)
                let edRate = try signsPerSecond(data, ed, seconds: seconds)
                let ours = (before.perCPUSecond + after.perCPUSecond) / 2
                report("dkim", [
                    "messageBytes": data.bytes.count,
                    "cpuSecondsPerRun": seconds,
                    "rsa2048SignsPerCPUSecond": rounded(ours),
                    "rsa2048Runs": "\(Int(before.perCPUSecond)), \(Int(after.perCPUSecond))",
                    "opensslSpeedRSA2048SignsPerCPUSecond": rounded(openssl),
                    "rsaRatio": rounded(ours / openssl),
                    "ed25519SignsPerCPUSecond": rounded(edRate.perCPUSecond),
                    "rsa2048SignsPerWallSecond": rounded((before.perWallSecond + after.perWallSecond) / 2),
                    "ed25519SignsPerWallSecond": rounded(edRate.perWallSecond),
                ], json: json)
                return 0
            } catch {
                print("dkim benchmark failed: \(error)")
                return 1
            }
        #else
            print("dkim benchmark: built without the OpenSSL trait, no DKIM")
            return 1
        #endif
    }

    /// A typical verification message, about 2 KiB once composed.
    static func message() -> MessageData {
        let text = (1...24).map { "Line \($0) of the welcome text; your code is 123456, valid for ten minutes." }
            .joined(separator: "\n")
        let composed = Message(
            from: try! EmailAddress("noreply@app.example.com"), to: try! EmailAddress("jane@example.net"),
            subject: "Your code: 123456", text: text, fromName: "Example App", date: 1_800_000_000)
        return composed.encoded()
    }

    struct Rate {
        var perCPUSecond: Double
        var perWallSecond: Double
    }

    /// Signs for `seconds` of user CPU time; rates per user CPU second and per wall second.
    static func signsPerSecond(_ data: MessageData, _ signer: DKIMSigner, seconds: Int) throws -> Rate {
        let wallStart = ContinuousClock.now
        let cpuStart = userCPUSeconds()
        var count = 0
        while userCPUSeconds() - cpuStart < Double(seconds), wallStart.duration(to: .now) < .seconds(seconds * 20) {
            for _ in 0..<10 { _ = try DKIMSigner.sign(data, with: [signer], time: 1_800_000_000) }
            count += 10
        }
        return Rate(
            perCPUSecond: Double(count) / (userCPUSeconds() - cpuStart),
            perWallSecond: Double(count) / wallStart.duration(to: .now).seconds)
    }

    /// User CPU time of this process, seconds (what `openssl speed` divides by).
    static func userCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
    }

    struct ToolFailure: Error, CustomStringConvertible { var description: String }

    static func generate(_ algorithm: String, _ extra: [String], in directory: String) throws -> String {
        let path = "\(directory)/\(algorithm).pem"
        _ = try tool(["genpkey", "-algorithm", algorithm] + extra + ["-out", path])
        return path
    }

    /// `openssl speed -seconds N rsa2048`'s sign/s column.
    static func opensslSpeed(seconds: Int) throws -> Double {
        let output = try tool(["speed", "-seconds", "\(seconds)", "rsa2048"])
        for line in output.split(separator: "\n") where line.hasPrefix("rsa 2048 bits") {
            let numbers = line.split(separator: " ").compactMap { Double($0) }
            // "rsa 2048 bits 0.000712s 0.000021s 1404.5 47493.9": 2048, then sign/s, verify/s.
            if numbers.count >= 3 { return numbers[numbers.count - 2] }
        }
        throw ToolFailure(description: "no 'rsa 2048 bits' line in openssl speed's output")
    }

    /// Runs `openssl arguments`, its output read from a file. posix_spawn with an empty
    /// signal mask: `openssl speed` ends each run on SIGALRM, which this process's threads
    /// block and a child would inherit blocked (Foundation's Process passes the mask on,
    /// and `speed` then never stops).
    static func tool(_ arguments: [String]) throws -> String {
        let output = NSTemporaryDirectory() + "directsmtp-bench-openssl-\(getpid()).out"
        defer { unlink(output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGALRM)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = (["openssl"] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, "openssl", &actions, &attributes, argv, environ)
        guard spawned == 0 else { throw ToolFailure(description: "cannot run openssl: error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else {
            throw ToolFailure(description: "openssl \(arguments.joined(separator: " ")) failed (status \(status))")
        }
        return (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
    }
}
