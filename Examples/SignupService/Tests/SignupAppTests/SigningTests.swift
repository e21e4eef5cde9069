import DirectSMTPTesting
import Foundation
import SignupApp
import Testing

/// With a DKIM key configured, every code's email is signed; a key without its selector
/// (or the reverse) stops the service at start-up.
@Suite struct SigningTests {
    /// RFC 8463 appendix A's Ed25519 key (its seed, in PKCS#8).
    static let ed25519 = """
        -----BEGIN PRIVATE KEY-----
        MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g
        -----END PRIVATE KEY-----

        """

    @Test func codesAreSignedWithTheConfiguredKey() async throws {
        let service = try TestService(dkimKeyPEM: Self.ed25519)
        try await service.run { _, client in
            let (status, _) = try await client.postForm("/signup", ["email": "jane@example.test"])
            #expect(status == .ok)
            let delivery = try #require(service.world.smtp.deliveries.last)
            let message = String(decoding: delivery.data, as: UTF8.self)
            #expect(message.hasPrefix("DKIM-Signature:"))
            #expect(message.contains("a=ed25519-sha256"))
            #expect(message.contains("s=signup2026"))
            #expect(message.contains("d=signup.test"))
        }
    }

    @Test func keyAndSelectorGoTogether() {
        #expect(throws: ConfigurationError.self) {
            try AppConfiguration.fromEnvironment(["SIGNUP_DKIM_KEY": "/etc/dkim.pem"])
        }
        #expect(throws: ConfigurationError.self) {
            try AppConfiguration.fromEnvironment(["SIGNUP_DKIM_SELECTOR": "s1"])
        }
    }
}
