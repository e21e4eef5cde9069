import DirectSMTPTesting
import Foundation
import TestKeys
import Testing

/// `send --dkim-key/--dkim-selector`: the delivered message carries one signature per key;
/// a key that cannot be read or parsed is a usage error before any traffic.
@Suite("directsmtp send --dkim-key", .serialized, .timeLimit(.minutes(1)))
struct CLIDKIMTests {
    static func keyFiles() throws -> (directory: String, ed: String, rsa: String) {
        let directory = NSTemporaryDirectory() + "directsmtp-dkim-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ed = directory + "/ed.pem"
        let rsa = directory + "/rsa.pem"
        // RFC 8463 appendix A's keys.
        try (TestKeys.rfc8463Ed25519 + "\n").write(toFile: ed, atomically: true, encoding: .utf8)
        try (TestKeys.rfc8463RSA + "\n").write(toFile: rsa, atomically: true, encoding: .utf8)
        try "not a key\n".write(toFile: directory + "/bad.pem", atomically: true, encoding: .utf8)
        return (directory, ed, rsa)
    }

    #if OpenSSL
        @Test func sendSignsWithEveryKey() async throws {
            let keys = try Self.keyFiles()
            defer { try? FileManager.default.removeItem(atPath: keys.directory) }
            let world = try await MockWorld.start()
            defer { world.stop() }
            let run = try await runCLI([
                "send", "--to", "user@ok.test", "--from", "app@client.test", "--helo", "client.test",
                "--dns", "\(world.dns.address)", "--port", "\(world.port)", "--budget", "3",
                "--dkim-key", keys.rsa, "--dkim-selector", "r1", "--dkim-key", keys.ed,
                "--dkim-selector", "e1", "--json",
            ])
            #expect(run.status == 0, "\(run)")
            let data = try #require(world.smtp.deliveries.first?.data)
            let text = String(decoding: data, as: UTF8.self)
            #expect(text.hasPrefix("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n\td=client.test; s=r1;"))
            #expect(text.contains("\r\nDKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n\td=client.test; s=e1;"))
            #expect(!text.contains("l="))
        }
    #endif

    @Test(arguments: [
        (["--dkim-key", "/nonexistent/key.pem", "--dkim-selector", "s"], "cannot open"),
        (["--dkim-key", "BAD", "--dkim-selector", "s"], "--dkim-key"),
        (["--dkim-key", "ED"], "--dkim-selector"),
        (["--dkim-key", "ED", "--dkim-selector", "s;x=1"], "selector"),
        (["--dkim-domain", "client.test"], "--dkim-domain"),
    ])
    func badKeysAreUsageErrors(_ flags: [String], _ message: String) async throws {
        let keys = try Self.keyFiles()
        defer { try? FileManager.default.removeItem(atPath: keys.directory) }
        let world = try await MockWorld.start()
        defer { world.stop() }
        let resolved = flags.map {
            $0 == "BAD" ? keys.directory + "/bad.pem" : ($0 == "ED" ? keys.ed : $0)
        }
        let run = try await runCLI(
            [
                "send", "--to", "user@ok.test", "--from", "app@client.test", "--helo", "client.test",
                "--dns", "\(world.dns.address)", "--port", "\(world.port)",
            ] + resolved)
        #expect(run.status == 64, "\(run)")
        #if OpenSSL
            #expect(run.stderr.contains(message), "\(run.stderr)")
        #else
            // Without OpenSSL every key is refused as unusable, before its selector is read.
            #expect(run.stderr.contains(message) || run.stderr.contains("OpenSSL"), "\(run.stderr)")
        #endif
        #expect(world.smtp.connectionCount == 0)
        #expect(world.dns.totalQueryCount == 0)
    }
}
