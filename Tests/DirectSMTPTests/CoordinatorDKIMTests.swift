#if OpenSSL
    import DKIM
    import DirectSMTP
    import DirectSMTPTesting
    import SMTPClient
    import TestKeys
    import Testing

    /// `Configuration.dkimSigners`: the coordinator signs once when it composes; a queued
    /// message keeps its signature and the retry sends the very same bytes.
    @Suite("Coordinator DKIM signing", .timeLimit(.minutes(1)))
    struct CoordinatorDKIMTests {
        @Test func queuedMessageKeepsItsSignature() async throws {
            let world = try await MockWorld.start()
            defer { world.stop() }
            var configuration = world.configuration(stagger: .milliseconds(250), budget: .seconds(3))
            let key = try DKIMPrivateKey(pem: Array(TestKeys.rfc8463Ed25519.utf8))
            configuration.dkimSigners = [try DKIMSigner(key: key, selector: "e1", domain: "client.test")]
            configuration.queueStore = InMemoryQueueStore()
            let coordinator = try VerificationCoordinator(configuration: configuration)
            let queue = try #require(coordinator.queue)

            let outcome = await coordinator.send(try welcome("grey@ok.test"))
            #expect(outcome.queued)
            let stored = try #require(try await queue.entries().first)
            #expect(String(decoding: stored.data, as: UTF8.self).hasPrefix("DKIM-Signature: v=1; a=ed25519-sha256;"))

            world.smtp.update { $0.recipients["grey@ok.test"] = nil }
            let summary = try await queue.runAll { await coordinator.redeliver($0) }
            #expect(summary.delivered == 1)
            let delivered = try #require(world.smtp.deliveries.first?.data)
            // The retry sends the stored bytes: one signature, the same one, never re-signed.
            #expect(delivered == stored.data)
            #expect(String(decoding: delivered, as: UTF8.self).components(separatedBy: "DKIM-Signature:").count == 2)
        }
    }
#endif
