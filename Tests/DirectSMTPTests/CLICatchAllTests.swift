import Foundation
import Testing

/// `probe --catch-all` and `--address-family`, as a script runs them.
@Suite("directsmtp probe --catch-all / --address-family", .serialized, .timeLimit(.minutes(1)))
struct CLICatchAllTests {
    @Test("--catch-all: catchAll in the JSON, and in the human output")
    func catchAll() async throws {
        let world = try await MockWorld.start()  // ok.test accepts any address but a few
        defer { world.stop() }
        let base = [
            "probe", "user@ok.test", "--helo", "client.test", "--dns", "\(world.dns.address)",
            "--port", "\(world.port)", "--address-family", "ipv4-first",
        ]
        let json = try await runCLI(base + ["--catch-all", "--json"])
        #expect(json.status == 0, "\(json)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["catchAll"] as? Bool == true, "the mock accepts any other address")
        #expect(object["hint"] is NSNull)
        let human = try await runCLI(base + ["--catch-all"])
        #expect(human.stdout.contains("catch-all: yes"), "\(human.stdout)")
        let notAsked = try await runCLI(base + ["--json"])
        let plain = try #require(
            try JSONSerialization.jsonObject(with: Data(notAsked.stdout.utf8)) as? [String: Any])
        #expect(plain["catchAll"] is NSNull)
    }

    @Test("A bad --address-family is a usage error before any traffic")
    func badFamily() async throws {
        let run = try await runCLI(["probe", "user@ok.test", "--address-family", "ipv6-only"])
        #expect(run.status == 64)
        #expect(run.stderr.contains("--address-family takes interleaved, ipv4-first or ipv4-only"))
    }
}
