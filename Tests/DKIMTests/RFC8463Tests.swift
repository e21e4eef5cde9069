import SMTPClient
import TestKeys
import Testing

@testable import DKIM

/// RFC 8463 appendix A: its keys, its message and its `t=` give, byte for byte, the two
/// signatures it publishes (RSASSA-PKCS1-v1_5 and Ed25519 are deterministic).
@Suite struct RFC8463Tests {
    static let message = [
        "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;",
        " d=football.example.com; i=@football.example.com;",
        " q=dns/txt; s=brisbane; t=1528637909; h=from : to :",
        " subject : date : message-id : from : subject : date;",
        " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;",
        " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus",
        " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==",
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;",
        " d=football.example.com; i=@football.example.com;",
        " q=dns/txt; s=test; t=1528637909; h=from : to : subject :",
        " date : message-id : from : subject : date;",
        " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;",
        " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3",
        " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz",
        " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=",
        "From: Joe SixPack <joe@football.example.com>",
        "To: Suzie Q <suzie@shopping.example.net>",
        "Subject: Is dinner ready?",
        "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)",
        "Message-ID: <20030712040037.46341.5F8J@football.example.com>",
        "",
        "Hi.",
        "",
        "We lost the game.  Are you hungry yet?",
        "",
        "Joe.",
        "",
    ].joined(separator: "\r\n")

    #if OpenSSL
        @Test func bodyHash() throws {
            let parts = DKIMMessageParts(Array(Self.message.utf8))
            let hash = try DKIMDigest.sha256(DKIMCanonicalization.relaxedBody(parts.body))
            #expect(Base64Text.encode(hash) == "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=")
        }

        @Test(arguments: [(0, TestKeys.rfc8463Ed25519), (1, TestKeys.rfc8463RSA)])
        func publishedSignature(_ index: Int, _ pem: String) throws {
            let key = try DKIMPrivateKey(pem: Array(pem.utf8))
            let parts = DKIMMessageParts(Array(Self.message.utf8))
            let field = parts.fields.filter { $0.name == "dkim-signature" }[index]
            let raw = Array(field.raw)
            let bStart = raw.indices.last { raw[$0] == UInt8(ascii: "b") && raw[$0 + 1] == UInt8(ascii: "=") }!
            let template = Array(raw[...(bStart + 1)])
            let published = String(decoding: raw[(bStart + 2)...], as: UTF8.self)
                .filter { !" \t\r\n".contains($0) }
            let names = "from:to:subject:date:message-id:from:subject:date".split(separator: ":")
                .map(String.init)
            let input = DKIMSigner.headerHashInput(parts.select(names), signatureTemplate: template)
            let signature = try key.sign(input)
            #expect(Base64Text.encode(signature) == published)
        }

        @Test func publicKeysAreTheRFCs() throws {
            let ed = try DKIMPrivateKey(pem: Array(TestKeys.rfc8463Ed25519.utf8))
            #expect(ed.algorithm == .ed25519SHA256)
            #expect(ed.dnsRecord == TestKeys.rfc8463Ed25519Record)
            let rsa = try DKIMPrivateKey(pem: Array(TestKeys.rfc8463RSA.utf8))
            #expect(rsa.algorithm == .rsaSHA256)
            #expect(rsa.bits == 1024)
            #expect(rsa.isWeak)
            #expect(rsa.dnsRecord == TestKeys.rfc8463RSARecord)
        }
    #endif
}
