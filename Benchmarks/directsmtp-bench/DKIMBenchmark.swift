// `dkim`: DKIM signatures per second of a typical 2 KiB verification message, rsa-sha256
// (2048 bits) against `openssl speed rsa2048`'s sign/s measured in the same run, and
// ed25519-sha256. Single-threaded, like `openssl speed`.

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
                let ours = (before + after) / 2
                report("dkim", [
                    "messageBytes": data.bytes.count,
                    "seconds": seconds,
                    "rsa2048SignsPerSecond": rounded(ours),
                    "rsa2048Runs": "\(Int(before)), \(Int(after))",
                    "opensslSpeedRSA2048SignsPerSecond": rounded(openssl),
                    "rsaRatio": rounded(ours / openssl),
                    "ed25519SignsPerSecond": rounded(edRate),
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

    static func signsPerSecond(_ data: MessageData, _ signer: DKIMSigner, seconds: Int) throws -> Double {
        let start = ContinuousClock.now
        let end = start + .seconds(seconds)
        var count = 0
        while ContinuousClock.now < end {
            for _ in 0..<10 { _ = try DKIMSigner.sign(data, with: [signer], time: 1_800_000_000) }
            count += 10
        }
        return Double(count) / start.duration(to: .now).seconds
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

    static func tool(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ToolFailure(description: "openssl \(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
        }
        return String(decoding: output, as: UTF8.self)
    }
}
