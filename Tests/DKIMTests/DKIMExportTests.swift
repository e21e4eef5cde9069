#if OpenSSL
    import Foundation
    import SMTPClient
    import TestKeys
    import Testing

    @testable import DKIM

    /// Writes signed messages for an independent verifier when `DKIM_EXPORT_DIR` is set
    /// (otherwise does nothing): `DKIM_EXPORT_DIR=/tmp/dkim swift test --filter
    /// DKIMExportTests`, then `python3 Benchmarks/scripts/dkim-verify-with-dkimpy.py /tmp/dkim`.
    @Suite struct DKIMExportTests {
        @Test func exportSignedMessages() throws {
            guard let directory = ProcessInfo.processInfo.environment["DKIM_EXPORT_DIR"] else { return }
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let rsa = DKIMSignerTests.rsa
            let ed = DKIMSignerTests.ed
            let weak = try DKIMPrivateKey(pem: Array(TestKeys.rfc8463RSA.utf8))
            let records = [
                "r2026._domainkey.app.example.com \(rsa.dnsRecord)",
                "e2026._domainkey.app.example.com \(ed.dnsRecord)",
                "w1024._domainkey.app.example.com \(weak.dnsRecord)",
            ]
            try records.joined(separator: "\n").write(
                toFile: directory + "/keys.txt", atomically: true, encoding: .utf8)
            let signers = [
                try DKIMSigner(key: rsa, selector: "r2026"),
                try DKIMSigner(key: ed, selector: "e2026"),
                try DKIMSigner(key: weak, selector: "w1024", domain: "app.example.com"),
            ]
            let bodies = [
                "Welcome! Your code is 123456.\n", "bare\nLF\nlines\n", "CRLF\r\nlines\r\n",
                "mixed\r\nline\nends\rhere", "trailing white space   \t\r\nand more \r\n",
                "empty lines at the end\r\n\r\n\r\n\r\n", ".dot first\r\n..two dots\r\n.\r\n",
                "UTF-8: grüße, 日本語, emoji 🎉\n", String(repeating: "y", count: 2500) + "\nshort\n",
                "", "no final line end", "\t tabs \t and  spaces \t\n  \n\t\n",
            ]
            var count = 0
            for (index, body) in bodies.enumerated() {
                // Composed by Message (7bit or quoted-printable, HTML alternative on odd ones)…
                let message = Message(
                    from: try EmailAddress("noreply@app.example.com"), to: try EmailAddress("jane@example.net"),
                    subject: "Grüße \(index): your code", text: body,
                    html: index % 2 == 1 ? "<p>\(body)</p>" : nil, fromName: "App Example",
                    allows8BitMIME: index % 3 == 0)
                let composed = try DKIMSigner.sign(message.encoded(), with: signers)
                try Data(composed.bytes).write(to: URL(fileURLWithPath: "\(directory)/composed-\(index).eml"))
                // …and raw, as a hand-made MessageData would carry it.
                let raw = MessageData(
                    bytes: Array(
                        "From: Jane <jane@app.example.com>\nTo: b@example.net\nCc: c@example.net\nSubject: raw \(index)\nReply-To: r@app.example.com\n\n\(body)"
                            .utf8), messageID: "<r\(index)@app.example.com>")
                let signedRaw = try DKIMSigner.sign(raw, with: signers)
                try Data(signedRaw.bytes).write(to: URL(fileURLWithPath: "\(directory)/raw-\(index).eml"))
                count += 2
            }
            #expect(count == 2 * bodies.count)
        }
    }
#endif
