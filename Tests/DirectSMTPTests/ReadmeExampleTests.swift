import DirectSMTP
import Foundation
import SMTPClient
import Testing

/// The README's sign-up handler, run as written against the mock world (only the
/// configuration and the journal path differ), so the example cannot rot.
@Suite("README example", .timeLimit(.minutes(1)))
struct ReadmeExampleTests {
    @Test("the sign-up handler answers 200, 422, 202 (queued) and 400")
    func signUpHandler() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("readme-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let coordinator = try VerificationCoordinator(configuration: world.configuration())
        let queue = DeliveryQueue(
            store: try await FileJournalQueueStore.open(path: directory.appendingPathComponent("mail.journal").path))
        coordinator.attach(queue)
        let retries = Task { await queue.run { entry in await coordinator.redeliver(entry) } }
        defer { retries.cancel() }

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
        #expect(try await queue.entries().map(\.to) == ["grey@ok.test"])
        #expect(await signUp(email: "user@ok.test\r\nRCPT TO:<x@y.z>", code: "1").status == 400)
        #expect(world.smtp.deliveryCount == 1)
    }
}
