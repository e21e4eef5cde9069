import DirectSMTP
import ChildProcess
import Foundation
import Testing

/// The README's sign-up example cannot rot: its Swift block, taken from README.md itself,
/// is type-checked against the modules just built with `import DirectSMTP` alone; and the
/// same handler runs against the mock world (only the configuration and the journal path
/// differ).
@Suite("README example", .timeLimit(.minutes(2)))
struct ReadmeExampleTests {
    /// The repository's root, from this file's path.
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The first ```swift block of README.md.
    static func readmeExample() throws -> String {
        let readme = try String(
            contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let opening = try #require(readme.range(of: "```swift\n"))
        let closing = try #require(readme.range(of: "\n```", range: opening.upperBound..<readme.endIndex))
        return String(readme[opening.upperBound..<closing.lowerBound])
    }

    @Test("README.md's Swift example compiles with `import DirectSMTP` alone")
    func readmeCompiles() async throws {
        let example = try Self.readmeExample()
        #expect(example.hasPrefix("import DirectSMTP\n"))
        #expect(!example.contains("import SMTPClient") && !example.contains("import Sockets"))
        // The modules sit beside the test binary (.build/<triple>/<configuration>/Modules).
        let binary = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(
            atPath: "/proc/self/exe"))
        let products = binary.deletingLastPathComponent()
        let modules = products.appendingPathComponent("Modules")
        let moduleMap = products.appendingPathComponent("CSystemShims.build/module.modulemap")
        try #require(
            FileManager.default.fileExists(atPath: modules.appendingPathComponent("DirectSMTP.swiftmodule").path),
            "no DirectSMTP module beside \(binary.path)")
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("readme-compile-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // main.swift: the example is top-level code, as in an executable's entry file.
        let source = directory.appendingPathComponent("main.swift")
        try example.write(to: source, atomically: true, encoding: .utf8)

        var arguments = [
            "swiftc", "-typecheck", "-swift-version", "6", "-I", modules.path,
            "-Xcc", "-fmodule-map-file=\(moduleMap.path)",
        ]
        #if OpenSSL
        // The system library's module map stays in the source tree.
        let openSSLMap = Self.root.appendingPathComponent("Sources/COpenSSL/module.modulemap")
        arguments += ["-Xcc", "-fmodule-map-file=\(openSSLMap.path)"]
        #endif
        // swiftc runs for seconds: ChildProcess waits on a thread of its own, never on the
        // cooperative pool, whose two threads the suites beside this one time their budgets on.
        let run = try await ChildProcess.run(
            "/usr/bin/env", arguments + [source.path], limit: .seconds(120), lowPriority: true)
        #expect(run.status == 0, "swiftc -typecheck README example:\n\(run.stdout)\(run.stderr)")
    }

    @Test("the sign-up handler answers 200, 422, 202 (queued) and 400")
    func signUpHandler() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("readme-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        var configuration = world.configuration()
        configuration.queueStore = try await FileJournalQueueStore.open(
            path: directory.appendingPathComponent("mail.journal").path)
        let coordinator = try VerificationCoordinator(configuration: configuration)
        let background = Task { await coordinator.run() }

        func signUp(email: String, code: String) async -> (status: Int, text: String, queued: Bool) {
            let message: Message
            do {
                message = Message(
                    from: try EmailAddress("noreply@client.test"),
                    to: try EmailAddress(email),
                    subject: "Your code: \(code)", text: "Welcome! Your code is \(code).")
            } catch {
                return (400, "That is not an email address: \(error)", false)
            }
            let outcome = await coordinator.send(message, budget: .seconds(2))
            switch outcome.status {
            case .accepted: return (200, "An email has been sent.", outcome.queued)
            case .rejected: return (422, "This address cannot receive mail (\(outcome.reason.rawValue)).", outcome.queued)
            case .deferred: return (202, "Your code will arrive shortly.", outcome.queued)
            }
        }

        #expect(await signUp(email: "user@ok.test", code: "1234").status == 200)
        let rejected = await signUp(email: "nobody@ok.test", code: "1234")
        #expect(rejected.status == 422 && rejected.text.contains("recipient-rejected"))
        let greylisted = await signUp(email: "grey@ok.test", code: "1234")
        #expect(greylisted.status == 202 && greylisted.queued)
        #expect(try await coordinator.queue?.entries().map(\.to) == ["grey@ok.test"])
        #expect(await signUp(email: "user@ok.test\r\nRCPT TO:<x@y.z>", code: "1").status == 400)
        #expect(world.smtp.deliveryCount == 1)

        // At shutdown: run() returns once cancelled and drained.
        background.cancel()
        await background.value
    }
}
