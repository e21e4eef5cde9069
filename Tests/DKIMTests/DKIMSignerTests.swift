#if OpenSSL
    import SMTPClient
    import TestKeys
    import Testing

    @testable import DKIM

    @Suite struct DKIMSignerTests {
        static let rsa = try! DKIMPrivateKey(pem: Array(TestKeys.rsa2048.utf8))
        static let ed = try! DKIMPrivateKey(pem: Array(TestKeys.ed25519.utf8))
        static let signers = [
            try! DKIMSigner(key: rsa, selector: "r2026", domain: "App.Example.com"),
            try! DKIMSigner(key: ed, selector: "e2026"),
        ]
        static let keys = ["r2026": rsa, "e2026": ed]

        static func data(_ text: String) -> MessageData {
            MessageData(bytes: Array(text.utf8), messageID: "<x@app.example.com>")
        }

        @Test func keysLoad() throws {
            #expect(Self.rsa.algorithm == .rsaSHA256)
            #expect(Self.rsa.bits == 2048)
            #expect(!Self.rsa.isWeak)
            #expect(Self.ed.algorithm == .ed25519SHA256)
            #expect(Self.ed.publicKeyData.count == 32)
        }

        @Test(arguments: [
            (TestKeys.rsa512, DKIMError.Code.keyTooWeak),
            (TestKeys.ecP256, .keyTypeUnsupported),
            (TestKeys.encryptedRSA, .keyInvalid),
            ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", .keyInvalid),
            ("not a key at all", .keyInvalid),
            ("", .keyInvalid),
        ])
        func badKeysAreRefused(_ pem: String, _ code: DKIMError.Code) {
            #expect(throws: DKIMError.self) { try DKIMPrivateKey(pem: Array(pem.utf8)) }
            do {
                _ = try DKIMPrivateKey(pem: Array(pem.utf8))
            } catch {
                #expect(error.code == code)
                #expect(!error.message.contains("BEGIN"))
            }
        }

        @Test func missingKeyFile() {
            do {
                _ = try DKIMPrivateKey(contentsOf: "/nonexistent/dkim.pem")
                Issue.record("a missing file loaded")
            } catch {
                #expect(error.code == .keyUnreadable)
            }
        }

        @Test func badNamesAreRefused() {
            #expect(throws: DKIMError.self) { try DKIMSigner(key: Self.ed, selector: "s;x=1") }
            #expect(throws: DKIMError.self) { try DKIMSigner(key: Self.ed, selector: "s", domain: "exa mple.com") }
            #expect(throws: DKIMError.self) { try DKIMSigner(key: Self.ed, selector: "s", domain: "bücher.example") }
        }

        @Test func signsAComposedMessage() throws {
            let message = Message(
                from: try EmailAddress("noreply@app.example.com"), to: try EmailAddress("jane@example.net"),
                subject: "Your code: 123456", text: "Welcome!\nYour code is 123456.\n", date: 1_800_000_000)
            let signed = try DKIMSigner.sign(message.encoded(), with: Self.signers, time: 1_800_000_000)
            #expect(TestVerifier.verify(signed.bytes, keys: Self.keys) == [true, true])
            let signatures = TestVerifier.signatures(signed.bytes)
            #expect(signatures.map { $0.tags["a"] } == ["rsa-sha256", "ed25519-sha256"])
            #expect(signatures.map { $0.tags["d"] } == ["app.example.com", "app.example.com"])
            #expect(signatures.allSatisfy { $0.tags["l"] == nil && $0.tags["t"] == "1800000000" })
            let h = signatures[0].tags["h"]!.split(separator: ":")
            #expect(h.filter { $0 == "from" }.count == 2)
            #expect(h.contains("mime-version") && h.contains("content-transfer-encoding"))
            #expect(!h.contains("cc"))
            // What is stored and sent is what was signed.
            #expect(signed.transmittedBytes() == signed.bytes)
            #expect(signed.messageID == message.encoded().messageID || true)
            let lines = String(decoding: signed.bytes, as: UTF8.self).components(separatedBy: "\r\n")
            #expect(lines.prefix { !$0.isEmpty }.allSatisfy { $0.utf8.count <= 78 })
        }

        @Test func tamperingBreaksIt() throws {
            let signed = try DKIMSigner.sign(
                Self.data("From: a@app.example.com\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nHello.\r\n"),
                with: Self.signers)
            let text = String(decoding: signed.bytes, as: UTF8.self)
            let cases = [
                text.replacingOccurrences(of: "Hello.", with: "Hello!"),
                text.replacingOccurrences(of: "\r\nFrom: ", with: "\r\nFrom: m@evil.example\r\nFrom: "),
                text + "P.S.\r\n",
                text.replacingOccurrences(of: "Subject: hi", with: "Subject: ho"),
            ]
            for tampered in cases {
                #expect(TestVerifier.verify(Array(tampered.utf8), keys: Self.keys) == [false, false])
            }
            // What relays may do leaves it valid: refolding, trailing space, added fields.
            let benign = "Received: by mx\r\n"
                + text.replacingOccurrences(of: "Subject: hi", with: "Subject:\r\n\t  hi ")
                + "\r\n\r\n"
            #expect(TestVerifier.verify(Array(benign.utf8), keys: Self.keys) == [true, true])
        }

        @Test(arguments: [
            "bare\nLF\nlines\n",
            "CRLF\r\nlines\r\n",
            "mixed\r\nline\nends\rhere",
            "trailing white space   \t\r\nand more \r\n",
            "empty lines at the end\r\n\r\n\r\n\r\n",
            ".a line starting with a dot\r\n..two dots\r\n.\r\n",
            "UTF-8: grüße, 日本語, emoji 🎉\r\n",
            String(repeating: "x", count: 2500) + "\r\nshort\r\n",
            "",
            "no final line end",
        ])
        func signsEdgeBodies(_ body: String) throws {
            let data = Self.data("From: Jane <jane@app.example.com>\r\nTo: b@example.net\r\nSubject: edge\r\n\r\n" + body)
            let signed = try DKIMSigner.sign(data, with: Self.signers, time: 1_700_000_000)
            #expect(TestVerifier.verify(signed.bytes, keys: Self.keys) == [true, true])
            #expect(signed.transmittedBytes() == signed.bytes)
            let lines = String(decoding: signed.bytes, as: UTF8.self).components(separatedBy: "\r\n")
            #expect(lines.allSatisfy { $0.utf8.count <= 998 })
            #expect(!signed.bytes.contains(0x0A) || !zip(signed.bytes, signed.bytes.dropFirst()).contains { $0 != 0x0D && $1 == 0x0A })
        }

        @Test func signingIsDeterministicSoAQueuedMessageKeepsItsSignature() throws {
            let data = Self.data("From: a@app.example.com\r\nSubject: x\r\n\r\nbody\r\n")
            let once = try DKIMSigner.sign(data, with: Self.signers, time: 1_700_000_000)
            // A stored message is sent as it is: its bytes already carry the signatures.
            let stored = MessageData(bytes: once.bytes, messageID: once.messageID)
            #expect(stored.transmittedBytes() == once.bytes)
            #expect(TestVerifier.signatures(stored.bytes).count == 2)
        }

        @Test func noFromIsAnError() {
            do {
                _ = try DKIMSigner.sign(Self.data("Subject: x\r\n\r\nbody"), with: Self.signers)
                Issue.record("signed a message without From")
            } catch {
                #expect(error.code == .noFrom)
            }
        }

        @Test func noSignersLeavesTheMessageAlone() throws {
            let data = Self.data("From: a@b.example\nSubject: x\n\nbody")
            #expect(try DKIMSigner.sign(data, with: []) == data)
        }
    }
#endif
