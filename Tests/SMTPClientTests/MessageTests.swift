import Foundation
@testable import SMTPClient
import Testing

private func address(_ text: String) -> EmailAddress { try! EmailAddress(text) }

private func lines(of data: MessageData) -> [String] {
    String(decoding: data.bytes, as: UTF8.self).components(separatedByCRLF: ())
}

extension String {
    fileprivate func components(separatedByCRLF: Void) -> [String] {
        var result: [String] = []
        var current: [UInt8] = []
        let bytes = Array(utf8)
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x0D, index + 1 < bytes.count, bytes[index + 1] == 0x0A {
                result.append(String(decoding: current, as: UTF8.self))
                current = []
                index += 2
            } else {
                current.append(bytes[index])
                index += 1
            }
        }
        if !current.isEmpty { result.append(String(decoding: current, as: UTF8.self)) }
        return result
    }
}

/// Every line end is CRLF: no bare CR, no bare LF.
private func onlyCRLF(_ bytes: [UInt8]) -> Bool {
    for (index, byte) in bytes.enumerated() {
        if byte == 0x0A, index == 0 || bytes[index - 1] != 0x0D { return false }
        if byte == 0x0D, index + 1 >= bytes.count || bytes[index + 1] != 0x0A { return false }
    }
    return true
}

@Suite("Message composition and dot-stuffing")
struct MessageTests {
    let from = address("noreply@app.example")
    let to = address("jane@example.com")

    @Test("An ASCII body goes out as 7bit, unchanged but for its line ends")
    func asciiBody() {
        let message = Message(from: from, to: to, subject: "Welcome", text: "Hello\nYour code: 123\r\n.dot line\rend",
                              date: 1_795_000_000, messageID: "<id1@app.example>")
        let data = message.encoded()
        let text = String(decoding: data.bytes, as: UTF8.self)
        #expect(onlyCRLF(data.bytes))
        #expect(!data.requires8BitMIME && !data.requiresSMTPUTF8)
        #expect(data.messageID == "<id1@app.example>")
        #expect(text.hasPrefix("Date: "))
        for header in ["From: <noreply@app.example>\r\n", "To: <jane@example.com>\r\n", "Subject: Welcome\r\n",
                       "Message-ID: <id1@app.example>\r\n", "MIME-Version: 1.0\r\n",
                       "Content-Transfer-Encoding: 7bit\r\n", "charset=us-ascii"] {
            #expect(text.contains(header), "missing \(header)")
        }
        #expect(text.hasSuffix("\r\n\r\nHello\r\nYour code: 123\r\n.dot line\r\nend\r\n"))
    }

    @Test("The Date header is RFC 5322", arguments: [
        (Int64(0), "Thu, 1 Jan 1970 00:00:00 +0000"),
        (Int64.min, "Mon, 1 Jan 1900 00:00:00 +0000"),
        (Int64.max, "Fri, 31 Dec 9999 23:59:59 +0000"),
        (Int64(1_795_000_000), "Wed, 18 Nov 2026 11:06:40 +0000"),
        (Int64(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000"),
    ])
    func date(seconds: Int64, expected: String) {
        #expect(Message.rfc5322Date(seconds) == expected)
    }

    @Test("The Date header matches Foundation's formatter over the whole range")
    func dateMatchesFormatter() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.calendar = Calendar(identifier: .gregorian)
        formatter.dateFormat = "EEE, d MMM yyyy HH:mm:ss '+0000'"
        var random = SplitMix(seed: 5322)
        var wrong: [Int64] = []
        for step in 0..<4_000 {
            // Anywhere in (and past) the range, then every hour or so of a year from 2023.
            let seconds = step < 2_000
                ? Int64(bitPattern: random.next()) % 300_000_000_000
                : 1_700_000_000 + Int64(step - 2_000) * 15_611
            let clamped = min(max(seconds, -2_208_988_800), 253_402_300_799)
            let expected = formatter.string(from: Date(timeIntervalSince1970: TimeInterval(clamped)))
            if Message.rfc5322Date(seconds) != expected { wrong.append(seconds) }
        }
        #expect(wrong.isEmpty, "differs for \(wrong.prefix(5))")
    }

    @Test("Header values that need no work come back unchanged; others as before", arguments: [
        ("Your code", "Your code"), ("", ""),
        ("line\r\nBcc: x", "line  Bcc: x"), ("nul\u{0}", "nul?"),
    ])
    func plainHeaderValue(value: String, expected: String) {
        #expect(MIMEEncoding.headerValue(value, nameLength: 7) == expected)
    }

    @Test("A UTF-8 subject and body are encoded: RFC 2047 words and quoted-printable")
    func utf8() {
        let message = Message(from: from, to: to, subject: "Bienvenue à bord, José ✓",
                              text: "Voilà votre code : 123456 — à bientôt", fromName: "Équipe App")
        let data = message.encoded()
        let text = String(decoding: data.bytes, as: UTF8.self)
        #expect(data.bytes.allSatisfy { $0 < 0x80 })
        #expect(!data.requires8BitMIME)
        #expect(text.contains("Subject: =?UTF-8?B?"))
        #expect(text.contains("From: =?UTF-8?B?"))
        #expect(text.contains("Content-Transfer-Encoding: quoted-printable"))
        #expect(text.contains("charset=utf-8"))
        #expect(text.contains("Voil=C3=A0 votre code : 123456 =E2=80=94 =C3=A0 bient=C3=B4t"))
        // The encoded subject decodes back to the original.
        let subjectLines = lines(of: data).drop(while: { !$0.hasPrefix("Subject:") })
        var decoded: [UInt8] = []
        for line in subjectLines.prefix(while: { $0.hasPrefix("Subject:") || $0.hasPrefix(" ") }) {
            for word in line.split(separator: " ") where word.hasPrefix("=?UTF-8?B?") {
                decoded += Base64.decode(String(word.dropFirst(10).dropLast(2))) ?? []
            }
        }
        #expect(String(decoding: decoded, as: UTF8.self) == "Bienvenue à bord, José ✓")
    }

    @Test("UTF-8 body as 8bit when the caller allows 8BITMIME")
    func eightBit() {
        let data = Message(from: from, to: to, subject: "x", text: "Grüße", allows8BitMIME: true).encoded()
        #expect(data.requires8BitMIME)
        #expect(String(decoding: data.bytes, as: UTF8.self).contains("Content-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n"))
    }

    @Test("A UTF-8 address marks the message as needing SMTPUTF8")
    func smtpUTF8() {
        let data = Message(from: from, to: address("josé@example.com"), subject: "x", text: "y").encoded()
        #expect(data.requiresSMTPUTF8)
    }

    @Test("No line is longer than 998 bytes: long lines become quoted-printable")
    func longLines() {
        let long = String(repeating: "abcdefghij", count: 300)
        let data = Message(from: from, to: to, subject: String(repeating: "word ", count: 300), text: long).encoded()
        #expect(onlyCRLF(data.bytes))
        #expect(lines(of: data).allSatisfy { $0.utf8.count <= 998 })
        #expect(String(decoding: data.bytes, as: UTF8.self).contains("quoted-printable"))
        // Soft line breaks rejoin to the original.
        let body = String(decoding: data.bytes, as: UTF8.self).components(separatedByCRLF: ())
            .drop(while: { !$0.isEmpty }).dropFirst()
        #expect(body.map { $0.hasSuffix("=") ? String($0.dropLast()) : $0 }.joined() == long)
    }

    @Test("A subject with one 2000-character word still keeps lines within 998")
    func unfoldableSubject() {
        let data = Message(from: from, to: to, subject: String(repeating: "x", count: 2000), text: "y").encoded()
        #expect(lines(of: data).allSatisfy { $0.utf8.count <= 998 })
        #expect(String(decoding: data.bytes, as: UTF8.self).contains("Subject: =?UTF-8?B?"))
    }

    /// Regression: encoded words were cut between grapheme clusters (Characters), so one
    /// long cluster (a letter with many combining marks, a long emoji ZWJ sequence) made a
    /// word far longer than RFC 2047's 75 characters.
    @Test("Encoded words stay within 75 characters and never split a UTF-8 sequence", arguments: [
        "e" + String(repeating: "\u{301}", count: 60),
        String(repeating: "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}\u{200D}\u{1F466}", count: 5),
        String(repeating: "é", count: 100),
        String(repeating: "日本語", count: 40),
    ])
    func encodedWordLength(subject: String) throws {
        let data = Message(from: from, to: to, subject: subject, text: "x").encoded()
        let all = lines(of: data)
        let start = try #require(all.firstIndex { $0.hasPrefix("Subject: ") })
        var folded = [String(all[start].dropFirst("Subject: ".count))]
        for line in all[(start + 1)...] {
            guard line.hasPrefix(" ") else { break }
            folded.append(line)
        }
        var decoded: [UInt8] = []
        for word in folded.flatMap({ $0.split(separator: " ") }) {
            #expect(word.utf8.count <= 75)
            #expect(word.hasPrefix("=?UTF-8?B?") && word.hasSuffix("?="))
            let payload = try #require(Base64.decode(String(word.dropFirst(10).dropLast(2))))
            // Each word alone is valid UTF-8 (RFC 2047 §5: no character split across words).
            #expect(String(validating: payload, as: UTF8.self) != nil)
            decoded += payload
        }
        #expect(String(decoding: decoded, as: UTF8.self) == subject)
    }

    /// Regression: the first encoded word was up to 75 characters after "Subject: ", so
    /// the first line reached 84 (RFC 2047 §2: a line with encoded words is at most 76),
    /// and " <address>" was appended after a display name's last word whatever its length.
    @Test("Every header line holding encoded words is at most 76 characters", arguments: [1, 5, 14, 15, 16, 30, 44, 45, 46, 100])
    func encodedWordLines(length: Int) throws {
        let text = String(repeating: "é", count: length)
        let data = Message(from: from, to: to, subject: text, text: "x", fromName: text, toName: "Jöhn " + text).encoded()
        let all = lines(of: data)
        let blank = try #require(all.firstIndex(of: ""))
        for line in all[..<blank] where line.contains("=?") {
            #expect(line.utf8.count <= 76, "\(line)")
        }
        #expect(all[..<blank].contains { $0.hasPrefix("Subject: =?UTF-8?B?") })
        #expect(all[..<blank].contains { $0.contains("<noreply@app.example>") })
        #expect(onlyCRLF(data.bytes))
    }

    @Test("Long display names and Message-IDs keep every line within 998 bytes", arguments: [
        (String(repeating: "A", count: 1500) as String?, nil as String?),
        (String(repeating: "a.b", count: 600), nil),
        (String(repeating: "ü", count: 900), nil),
        (nil, String(repeating: "m", count: 1200) + "@app.example"),
    ])
    func longHeaderParts(name: String?, messageID: String?) {
        let data = Message(from: from, to: to, subject: "s", text: "x", fromName: name, toName: name,
                           messageID: messageID).encoded()
        #expect(onlyCRLF(data.bytes))
        #expect(lines(of: data).allSatisfy { $0.utf8.count <= 998 })
    }

    /// Regression: "abc" became "<abc>", "<abc" stayed "<abc" and "a>\r\nBcc: x" became
    /// "<a>Bcc:x>": Message-ID headers that are not `<left@right>`.
    @Test("A caller's Message-ID is kept only when well-formed", arguments: [
        ("<id1@app.example>", "<id1@app.example>" as String?),
        ("id2@app.example", "<id2@app.example>"),
        (" <id3@app.example> ", "<id3@app.example>"),
        ("<id4@app.example", "<id4@app.example>"),
        ("a>\r\nBcc: x@y", "<aBcc:x@y>"),
        ("abc", nil),
        ("<>", nil),
        ("@x", nil),
        ("x@", nil),
        ("a@b@c", nil),
    ])
    func messageIDWellFormed(given: String, expected: String?) {
        let data = Message(from: from, to: to, subject: "s", text: "x", messageID: given).encoded()
        if let expected {
            #expect(data.messageID == expected)
        } else {
            #expect(data.messageID.hasSuffix("@app.example>") && data.messageID.hasPrefix("<"))
        }
        let header = lines(of: data).first { $0.hasPrefix("Message-ID: ") }
        #expect(header == "Message-ID: \(data.messageID)")
        let id = data.messageID.dropFirst().dropLast()
        #expect(id.split(separator: "@", omittingEmptySubsequences: false).count == 2)
        #expect(!id.contains("<") && !id.contains(">") && !id.contains(" "))
    }

    /// Regression: folding happened at every space, so a run of spaces past column 78
    /// produced header lines of white space only (RFC 5322 §3.2.2 forbids them; a lax
    /// parser reads one as the end of the header).
    @Test("Folding never makes a line of white space only, and unfolds to the original", arguments: [
        "Welcome" + String(repeating: " ", count: 150) + "to the app",
        String(repeating: "word ", count: 40) + String(repeating: " ", count: 90) + "end",
        "\r\n\r\n" + String(repeating: "\r\n", count: 60) + "Bcc: victim@example.com",
    ])
    func foldingWhitespace(subject: String) throws {
        let data = Message(from: from, to: to, subject: subject, text: "x").encoded()
        let all = lines(of: data)
        let blank = try #require(all.firstIndex(of: ""))
        let header = all[..<blank]
        #expect(!header.contains { $0.allSatisfy { $0 == " " || $0 == "\t" } })
        #expect(!header.contains { $0.hasPrefix("Bcc:") })
        #expect(header.allSatisfy { $0.utf8.count <= 998 })
        let start = try #require(header.firstIndex { $0.hasPrefix("Subject: ") })
        var unfolded = String(header[start].dropFirst("Subject: ".count))
        for line in header[(start + 1)...] {
            guard line.hasPrefix(" ") else { break }
            unfolded += line
        }
        let expected = String(decoding: subject.utf8.map { $0 == 0x0D || $0 == 0x0A ? 0x20 : $0 }, as: UTF8.self)
        if !unfolded.hasPrefix("=?") { #expect(unfolded == expected) }
    }

    @Test("CR/LF in the subject cannot start a new header")
    func headerInjection() {
        let data = Message(from: from, to: to, subject: "hi\r\nBcc: victim@example.com", text: "x").encoded()
        #expect(!lines(of: data).contains { $0.hasPrefix("Bcc:") })
    }

    @Test("Text and HTML make multipart/alternative")
    func multipart() {
        let data = Message(from: from, to: to, subject: "x", text: "plain", html: "<p>ç</p>").encoded()
        let text = String(decoding: data.bytes, as: UTF8.self)
        #expect(text.contains("Content-Type: multipart/alternative; boundary=\"=_directsmtp_"))
        #expect(text.contains("Content-Type: text/plain; charset=us-ascii"))
        #expect(text.contains("Content-Type: text/html; charset=utf-8"))
        #expect(text.contains("<p>=C3=A7</p>"))
        #expect(onlyCRLF(data.bytes))
    }

    /// Regression: the multipart entity had no Content-Transfer-Encoding, i.e. 7bit, even
    /// when a part inside was 8bit (RFC 2045 §6.4).
    @Test("A multipart with an 8bit part is itself declared 8bit", arguments: [true, false])
    func multipartEncoding(allow8Bit: Bool) throws {
        let data = Message(from: from, to: to, subject: "x", text: "Grüße", html: "<p>ç</p>", allows8BitMIME: allow8Bit).encoded()
        let all = lines(of: data)
        let blank = try #require(all.firstIndex(of: ""))
        let top = all[..<blank]
        #expect(data.requires8BitMIME == allow8Bit)
        #expect(top.contains("Content-Transfer-Encoding: \(allow8Bit ? "8bit" : "7bit")"))
        #expect(top.filter { $0.hasPrefix("Content-Transfer-Encoding:") }.count == 1)
    }

    @Test("Dot-stuffing and line ends while streaming", arguments: [
        ("a\r\n.b\r\n", "a\r\n..b\r\n.\r\n"),
        (".", "..\r\n.\r\n"),
        ("", ".\r\n"),
        ("a\nb\rc\r\n", "a\r\nb\r\nc\r\n.\r\n"),
        ("x\r\n.\r\ny", "x\r\n..\r\ny\r\n.\r\n"),
        ("x\n.\nQUIT\n", "x\r\n..\r\nQUIT\r\n.\r\n"),
        ("smuggle\n.\r\nMAIL FROM:<x>", "smuggle\r\n..\r\nMAIL FROM:<x>\r\n.\r\n"),
        ("a\r\r\nb", "a\r\n\r\nb\r\n.\r\n"),
        // Lines over 998 bytes (a hand-made MessageData) are broken with CRLF SP; the
        // transparency dot does not count; exactly 998 is left alone.
        (String(repeating: "x", count: 998) + "\n", String(repeating: "x", count: 998) + "\r\n.\r\n"),
        (String(repeating: "x", count: 999), String(repeating: "x", count: 998) + "\r\n x\r\n.\r\n"),
        ("." + String(repeating: "y", count: 997) + "\r\n", ".." + String(repeating: "y", count: 997) + "\r\n.\r\n"),
        (String(repeating: "z", count: 2000) + "\r\n.",
         String(repeating: "z", count: 998) + "\r\n " + String(repeating: "z", count: 997) + "\r\n " + String(repeating: "z", count: 5)
            + "\r\n..\r\n.\r\n"),
    ])
    func stuffing(input: String, expected: String) async {
        let bytes = Array(input.utf8)
        // Whole, and split at every position: the result must not depend on chunking.
        // (Off the cooperative pool: a few thousand encodings, slow in a debug build.)
        let wrong = await offThePool {
            (0...bytes.count).filter { split in
                var stuffer = SMTPDataStuffer()
                var output: [UInt8] = []
                stuffer.encode(bytes[..<split], into: &output)
                stuffer.encode(bytes[split...], into: &output)
                stuffer.finish(into: &output)
                return String(decoding: output, as: UTF8.self) != expected
            }
        }
        #expect(wrong.isEmpty, "wrong output when split at \(wrong)")
    }

    @Test("Random bytes in random chunks stuff as the rules say, line by line", arguments: 0..<8)
    func randomStuffing(seed: Int) {
        // The rules, applied to whole lines: CR, LF or CRLF ends a line; a line gets
        // CRLF, a leading dot doubled, and CRLF SP after every 998 bytes (997 after a break).
        func expected(_ input: [UInt8]) -> [UInt8] {
            var lines: [[UInt8]] = []
            var current: [UInt8] = []
            var index = 0
            while index < input.count {
                let byte = input[index]
                index += 1
                guard byte == 0x0D || byte == 0x0A else {
                    current.append(byte)
                    continue
                }
                lines.append(current)
                current = []
                if byte == 0x0D, index < input.count, input[index] == 0x0A { index += 1 }
            }
            if !current.isEmpty { lines.append(current) }
            var output: [UInt8] = []
            for line in lines {
                if line.first == 0x2E { output.append(0x2E) }
                output += line.prefix(998)
                var rest = line.dropFirst(998)
                while !rest.isEmpty {
                    output += [0x0D, 0x0A, 0x20] + rest.prefix(997)
                    rest = rest.dropFirst(997)
                }
                output += [0x0D, 0x0A]
            }
            return output + [0x2E, 0x0D, 0x0A]
        }
        var random = SplitMix(seed: UInt64(seed) + 77)
        let alphabet: [UInt8] = [0x0D, 0x0A, 0x2E, 0x20, 0x61, 0x62, 0xC3, 0xA9]
        for _ in 0..<40 {
            let length = Int(random.next() % 3_000)
            let runny = random.next() % 2 == 0  // long runs without line ends, past 998
            let input = (0..<length).map { _ -> UInt8 in
                runny && random.next() % 500 != 0 ? 0x78 : alphabet[Int(random.next() % UInt64(alphabet.count))]
            }
            var stuffer = SMTPDataStuffer()
            var output: [UInt8] = []
            var offset = 0
            while offset < input.count {
                let end = min(input.count, offset + 1 + Int(random.next() % 1_500))
                stuffer.encode(input[offset..<end], into: &output)
                offset = end
            }
            stuffer.finish(into: &output)
            #expect(output == expected(input))
        }
    }
}

@Suite("Random identifiers")
struct RandomIdentifierTests {
    @Test("randomHex gives 2 hex digits per byte, every byte position varies", arguments: [1, 7, 8, 12, 16, 17])
    func randomHex(bytes: Int) {
        let samples = (0..<64).map { _ in Message.randomHex(bytes) }
        for sample in samples {
            #expect(sample.utf8.count == 2 * bytes)
            #expect(sample.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) })
        }
        // Each byte position takes several values over 64 draws (a byte taken from the
        // wrong part of a word, or the same word reused, would stay constant).
        for position in 0..<bytes {
            let values = Set(samples.map { Array($0.utf8)[2 * position..<2 * position + 2] })
            #expect(values.count > 8, "byte \(position) took only \(values.count) values")
        }
    }

    @Test("Message-IDs differ from message to message")
    func messageIDsDiffer() {
        let ids = Set((0..<1_000).map { _ in Message.generateMessageID(domain: "app.example") })
        #expect(ids.count == 1_000)
    }
}

