import DirectSMTPTesting
import Foundation
import Testing

/// `send --dkim-key/--dkim-selector`: the delivered message carries one signature per key;
/// a key that cannot be read or parsed is a usage error before any traffic.
@Suite("directsmtp send --dkim-key", .serialized, .timeLimit(.minutes(1)))
struct CLIDKIMTests {
    /// RFC 8463 appendix A's Ed25519 key (its seed, in PKCS#8), and its RSA key (1024 bits).
    static let ed25519 = """
        -----BEGIN PRIVATE KEY-----
        MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g
        -----END PRIVATE KEY-----

        """
    static let rsa = """
        -----BEGIN RSA PRIVATE KEY-----
        MIICXQIBAAKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQi
        Y/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqM
        KrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB
        AoGAH0cxOhFZDgzXWhDhnAJDw5s4roOXN4OhjiXa8W7Y3rhX3FJqmJSPuC8N9vQm
        6SVbaLAE4SG5mLMueHlh4KXffEpuLEiNp9Ss3O4YfLiQpbRqE7Tm5SxKjvvQoZZe
        zHorimOaChRL2it47iuWxzxSiRMv4c+j70GiWdxXnxe4UoECQQDzJB/0U58W7RZy
        6enGVj2kWF732CoWFZWzi1FicudrBFoy63QwcowpoCazKtvZGMNlPWnC7x/6o8Gc
        uSe0ga2xAkEA8C7PipPm1/1fTRQvj1o/dDmZp243044ZNyxjg+/OPN0oWCbXIGxy
        WvmZbXriOWoSALJTjExEgraHEgnXssuk7QJBALl5ICsYMu6hMxO73gnfNayNgPxd
        WFV6Z7ULnKyV7HSVYF0hgYOHjeYe9gaMtiJYoo0zGN+L3AAtNP9huqkWlzECQE1a
        licIeVlo1e+qJ6Mgqr0Q7Aa7falZ448ccbSFYEPD6oFxiOl9Y9se9iYHZKKfIcst
        o7DUw1/hz2Ck4N5JrgUCQQCyKveNvjzkkd8HjYs0SwM0fPjK16//5qDZ2UiDGnOe
        uEzxBDAr518Z8VFbR41in3W4Y3yCDgQlLlcETrS+zYcL
        -----END RSA PRIVATE KEY-----

        """

    static func keyFiles() throws -> (directory: String, ed: String, rsa: String) {
        let directory = NSTemporaryDirectory() + "directsmtp-dkim-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ed = directory + "/ed.pem"
        let rsa = directory + "/rsa.pem"
        try ed25519.write(toFile: ed, atomically: true, encoding: .utf8)
        try Self.rsa.write(toFile: rsa, atomically: true, encoding: .utf8)
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
