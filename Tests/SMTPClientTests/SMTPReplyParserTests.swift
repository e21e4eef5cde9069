@testable import SMTPClient
import Testing

private func parseAll(_ text: String) throws(SMTPProtocolError) -> [SMTPReply] {
    var parser = SMTPReplyParser()
    parser.feed(Array(text.utf8))
    var replies: [SMTPReply] = []
    while let reply = try parser.next() { replies.append(reply) }
    return replies
}

@Suite("SMTP reply parser")
struct SMTPReplyParserTests {
    @Test("Well-formed replies", arguments: [
        ("250 OK\r\n", 250, nil as String?, ["OK"], "OK"),
        ("250\r\n", 250, nil, [""], ""),
        ("250 \r\n", 250, nil, [""], ""),
        ("220 mx.example ESMTP ready  \t\r\n", 220, nil, ["mx.example ESMTP ready"], "mx.example ESMTP ready"),
        ("250 OK\n", 250, nil, ["OK"], "OK"),
        ("550 5.1.1 no such user\r\n", 550, "5.1.1", ["5.1.1 no such user"], "no such user"),
        ("550 4.1.1 class mismatch\r\n", 550, nil, ["4.1.1 class mismatch"], "4.1.1 class mismatch"),
        ("250 2.0.0\r\n", 250, "2.0.0", ["2.0.0"], ""),
        ("451 4.7.1 greylisted\r\n", 451, "4.7.1", ["4.7.1 greylisted"], "greylisted"),
        ("550 5.1.10 null MX\r\n", 550, "5.1.10", ["5.1.10 null MX"], "null MX"),
        ("554 5.7.1234 x\r\n", 554, nil, ["5.7.1234 x"], "5.7.1234 x"),
        ("250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n", 250, nil, ["mx.example", "PIPELINING", "SIZE 1000"], "mx.example\nPIPELINING\nSIZE 1000"),
        ("550-5.7.1 line one\n550 5.7.1 line two\n", 550, "5.7.1", ["5.7.1 line one", "5.7.1 line two"], "line one\nline two"),
        ("250 a\u{1}b\u{7F}c\r\n", 250, nil, ["a?b?c"], "a?b?c"),
        ("250 NUL\u{0}here\r\n", 250, nil, ["NUL?here"], "NUL?here"),
    ])
    func wellFormed(input: String, code: Int, enhanced: String?, lines: [String], text: String) throws {
        let replies = try parseAll(input)
        #expect(replies.count == 1)
        #expect(replies.first?.code == code)
        #expect(replies.first?.enhancedCode == enhanced)
        #expect(replies.first?.lines == lines)
        #expect(replies.first?.text == text)
    }

    @Test("Invalid UTF-8 is repaired, not fatal")
    func invalidUTF8() throws {
        var parser = SMTPReplyParser()
        parser.feed([0x32, 0x35, 0x30, 0x20, 0xFF, 0xFE, 0x41, 0x0D, 0x0A])
        let reply = try parser.next()
        #expect(reply?.code == 250)
        #expect(reply?.text == "\u{FFFD}\u{FFFD}A")
    }

    @Test("Bad input ends in a typed error", arguments: [
        ("25 OK\r\n", SMTPProtocolError.Code.invalidCode),
        ("2500 OK\r\n", .invalidSeparator),
        ("250x OK\r\n", .invalidSeparator),
        ("ABC OK\r\n", .invalidCode),
        ("150 OK\r\n", .invalidCode),
        ("650 OK\r\n", .invalidCode),
        ("\r\n", .invalidCode),
        ("HTTP/1.1 400 Bad Request\r\n", .invalidCode),
        ("250-first\r\n550 second\r\n", .mixedCodes),
        ("\u{0}\u{0}\u{0}\u{0}\r\n", .invalidCode),
    ])
    func badInput(input: String, code: SMTPProtocolError.Code) {
        do {
            _ = try parseAll(input)
            Issue.record("parsed \(input.debugDescription)")
        } catch {
            #expect(error.code == code)
        }
    }

    @Test("A stream without CRLF fails at 2048 bytes, not later")
    func noLineEnd() {
        var parser = SMTPReplyParser()
        parser.feed(Array(repeating: UInt8(ascii: "2"), count: 2048))
        #expect((try? parser.next()) == .some(nil))
        parser.feed([UInt8(ascii: "2")])
        #expect(throws: SMTPProtocolError.self) { try parser.next() }
    }

    @Test("A 100 KB line is refused")
    func hugeLine() {
        let line = "250 " + String(repeating: "x", count: 100_000) + "\r\n"
        #expect(throws: SMTPProtocolError.self) { try parseAll(line) }
    }

    @Test("A million continuation lines are refused after 1000")
    func manyLines() {
        var parser = SMTPReplyParser()
        let line = Array("250-x\r\n".utf8)
        var failedAt: Int?
        for index in 0..<1_000_000 {
            parser.feed(line)
            do {
                _ = try parser.next()
            } catch {
                #expect(error.code == .replyTooLong)
                failedAt = index
                break
            }
        }
        #expect(failedAt == 1000)
    }

    @Test("A reply over 64 KiB is refused")
    func bigReply() {
        let line = "250-" + String(repeating: "x", count: 2000) + "\r\n"
        let text = String(repeating: line, count: 40) + "250 end\r\n"
        do {
            _ = try parseAll(text)
            Issue.record("accepted an 80 KB reply")
        } catch {
            #expect(error.code == .replyTooLong)
        }
    }

    @Test("One byte at a time gives the same replies")
    func byteAtATime() throws {
        let text = "220 hi\r\n250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n354 go\n"
        var parser = SMTPReplyParser()
        var replies: [SMTPReply] = []
        for byte in text.utf8 {
            parser.feed([byte])
            while let reply = try parser.next() { replies.append(reply) }
        }
        #expect(replies == (try parseAll(text)))
        #expect(replies.map(\.code) == [220, 250, 354])
        #expect(replies[1].lines == ["mx", "PIPELINING", "8BITMIME"])
    }

    @Test("Many replies in one segment")
    func manyInOne() throws {
        let text = String(repeating: "250 2.1.0 OK\r\n", count: 500)
        let replies = try parseAll(text)
        #expect(replies.count == 500)
        #expect(replies.allSatisfy { $0.code == 250 && $0.enhancedCode == "2.1.0" && $0.text == "OK" })
    }

    @Test("After an error the parser keeps failing")
    func poisoned() {
        var parser = SMTPReplyParser()
        parser.feed(Array("XYZ\r\n250 OK\r\n".utf8))
        #expect(throws: SMTPProtocolError.self) { try parser.next() }
        #expect(throws: SMTPProtocolError.self) { try parser.next() }
    }

    @Test("Random bytes in random chunks never crash: replies or a typed error", arguments: 0..<20)
    func randomInput(seed: Int) {
        var generator = SplitMix(seed: UInt64(seed))
        // Bias towards bytes that matter to the grammar.
        let alphabet: [UInt8] = Array("0123456789 -\r\n250-354 ".utf8) + [0, 0x7F, 0xFF, 0xC3, 0x09]
        var parser = SMTPReplyParser()
        var fed = 0
        while fed < 20_000 {
            let count = Int(generator.next() % 64) + 1
            var chunk: [UInt8] = []
            for _ in 0..<count {
                let roll = generator.next()
                chunk.append(roll % 4 == 0 ? UInt8(truncatingIfNeeded: roll >> 8) : alphabet[Int((roll >> 8) % UInt64(alphabet.count))])
            }
            fed += count
            parser.feed(chunk)
            do {
                while let reply = try parser.next() {
                    #expect((200...599).contains(reply.code))
                    #expect(reply.lines.allSatisfy { !$0.contains("\r") && !$0.contains("\n") })
                }
            } catch {
                #expect(!error.message.isEmpty)
                return
            }
        }
    }

    @Test("Replies built by hand derive text and enhanced code the same way")
    func manualReply() throws {
        var reply = SMTPReply(code: 550, lines: ["5.1.1 no such user", "5.1.1 really"])
        #expect(reply.enhancedCode == "5.1.1" && reply.text == "no such user\nreally")
        #expect(reply == (try parseAll("550-5.1.1 no such user\r\n550 5.1.1 really\r\n"))[0])
        reply.lines = ["2.0.0 fine"]
        #expect(reply.lines == ["2.0.0 fine"] && reply.enhancedCode == nil && reply.text == "2.0.0 fine")
        #expect(SMTPReply(451, "4.7.1 greylisted").enhancedCode == "4.7.1")
        #expect(SMTPReply(250, "bad\r\nQUIT").lines == ["bad??QUIT"])
    }

    /// Regression: once more than 4 KiB had been consumed, `feed` compacted the buffer and
    /// shifted the scan offset (which is relative to the unparsed start) by the dropped
    /// length, so the next search began thousands of bytes before the buffer: an
    /// out-of-bounds read and a spurious protocol error (or a crash).
    @Test("Replies still parse after the buffer is compacted with a partial line pending")
    func compactionWithPartialLine() throws {
        var parser = SMTPReplyParser()
        let long = String(repeating: "a", count: 1990)
        // 3 lines of ~2000 bytes (one reply), then the first two bytes of the next reply.
        parser.feed(Array("250-\(long)\r\n250-\(long)\r\n250 \(long)\r\n25".utf8))
        let first = try parser.next()
        #expect(first?.lines.count == 3)
        #expect(try parser.next() == nil)    // scans the partial "25"
        // After compaction the buffer holds 10 bytes: the array's count field (just before
        // the elements) then holds a 0x0A byte a stray backwards search would find.
        parser.feed(Array("0 ok  \r\n".utf8))
        let second = try parser.next()
        #expect(second?.code == 250)
        #expect(second?.text == "ok")
    }

    @Test("A long stream of multiline replies parses whatever the segment size", arguments: [1, 7, 100, 1000, 1500, 5000])
    func chunkedStream(chunkSize: Int) throws {
        var stream: [UInt8] = []
        var expected: [(Int, Int)] = []
        for index in 0..<40 {
            let code = [250, 451, 550, 354][index % 4]
            let lineCount = 1 + index % 9
            for line in 0..<lineCount {
                let separator = line == lineCount - 1 ? " " : "-"
                stream += Array("\(code)\(separator)line \(line) of reply \(index) \(String(repeating: "x", count: (index * 37 + line * 11) % 300))\r\n".utf8)
            }
            expected.append((code, lineCount))
        }
        var parser = SMTPReplyParser()
        var replies: [SMTPReply] = []
        var offset = 0
        while offset < stream.count {
            let end = min(offset + chunkSize, stream.count)
            parser.feed(stream[offset..<end])
            offset = end
            while let reply = try parser.next() { replies.append(reply) }
        }
        #expect(replies.count == expected.count)
        for (reply, (code, lineCount)) in zip(replies, expected) {
            #expect(reply.code == code)
            #expect(reply.lines.count == lineCount)
        }
    }

    @Test("A hand-built reply with any code never traps", arguments: [0, -1, 99, 600, 1_000, 99_999, Int.max, Int.min])
    func handBuiltReplyWithOddCode(code: Int) {
        let reply = SMTPReply(code: code, lines: ["5.1.1 text"])
        #expect(reply.code == code)
        #expect(reply.enhancedCode == nil)
        #expect(reply.text == "5.1.1 text")
    }

    @Test("Capabilities from an EHLO reply")
    func capabilities() throws {
        let reply = try parseAll("250-mx.example greets you\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-AUTH PLAIN login\r\n250-AUTH=CRAM-MD5\r\n250-STARTTLS\r\n250 ENHANCEDSTATUSCODES\r\n")[0]
        let capabilities = SMTPCapabilities(ehloReply: reply)
        #expect(capabilities.pipelining)
        #expect(capabilities.size == 35_882_577)
        #expect(capabilities.eightBitMIME)
        #expect(capabilities.smtpUTF8)
        #expect(capabilities.startTLS)
        #expect(capabilities.enhancedStatusCodes)
        #expect(capabilities.authMechanisms == ["PLAIN", "LOGIN", "CRAM-MD5"])
        let bare = SMTPCapabilities(ehloReply: try parseAll("250 mx.example\r\n")[0])
        #expect(!bare.pipelining && bare.size == nil && bare.authMechanisms.isEmpty)
        #expect(bare == SMTPCapabilities())
        // Setting the table replaces what the reply said.
        var edited = capabilities
        edited.keywords["PIPELINING"] = nil
        edited.keywords["SIZE"] = ["1000"]
        #expect(!edited.pipelining && edited.size == 1_000 && edited.startTLS)
        #expect(edited != capabilities)
    }

    /// The capabilities as parsed from ``SMTPReply/lines`` by Characters, the reference
    /// the byte-wise parser must match.
    private static func referenceKeywords(_ reply: SMTPReply) -> [String: [String]] {
        var keywords: [String: [String]] = [:]
        for line in reply.lines.dropFirst() {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = parts.first else { continue }
            var keyword = String(first).uppercased()
            var parameters = parts.dropFirst().map(String.init)
            if keyword.hasPrefix("AUTH=") {
                parameters.insert(String(keyword.dropFirst(5)), at: 0)
                keyword = "AUTH"
                parameters = (keywords["AUTH"] ?? []) + parameters
            }
            keywords[keyword] = parameters
        }
        return keywords
    }

    /// The questions a session asks, answered from the reply's lines, must give what the
    /// reference table gives.
    private static func expectAnswersMatchReference(_ reply: SMTPReply) {
        let capabilities = SMTPCapabilities(ehloReply: reply)
        let table = referenceKeywords(reply)
        #expect(capabilities.pipelining == (table["PIPELINING"] != nil))
        #expect(capabilities.eightBitMIME == (table["8BITMIME"] != nil))
        #expect(capabilities.smtpUTF8 == (table["SMTPUTF8"] != nil))
        #expect(capabilities.startTLS == (table["STARTTLS"] != nil))
        #expect(capabilities.enhancedStatusCodes == (table["ENHANCEDSTATUSCODES"] != nil))
        #expect(capabilities.size == table["SIZE"].map { $0.first.flatMap { Int($0) } ?? 0 })
        #expect(capabilities.authMechanisms == Set((table["AUTH"] ?? []).map { $0.uppercased() }))
        #expect(capabilities == SMTPCapabilities(keywords: table))
        #expect(capabilities.hashValue == SMTPCapabilities(keywords: table).hashValue)
    }

    @Test("Capabilities parsed byte-wise match the parse by Characters", arguments: [
        "250-mx\r\n250-pipelining\r\n250-size   100  \r\n250-Auth=login plain\r\n250-AUTH=xoauth2\r\n250 8bitmime\r\n",
        "250-mx\r\n250-  STARTTLS\r\n250-\r\n250-X-ÜBER wert ünï\r\n250-X-MARK a \u{301}b\r\n250 x-tab\tsep\r\n",
        "250-mx\r\n250-AUTH PLAIN\r\n250-auth login\r\n250 AUTH=CRAM-MD5 DIGEST-MD5\r\n",
        "250-mx\r\n250-x\u{7F}y z\r\n250 ß straße\r\n",
        "250-mx\r\n250-size 10\r\n250-Pipelining\r\n250-SIZE 20 x\r\n250-STARTTLS\r\n250 smtputf8\r\n",
        "250-mx\r\n250-SIZE 10\r\n250-ſize 30\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n",
        "250-mx\r\n250-SIZE\r\n250-  PIPELININGX\r\n250 PIPELINING   \r\n",
        "250 mx PIPELINING\r\n",
    ])
    func capabilitiesMatchReference(input: String) throws {
        let reply = try parseAll(input)[0]
        #expect(SMTPCapabilities(ehloReply: reply).keywords == Self.referenceKeywords(reply))
        let handBuilt = SMTPReply(code: 250, lines: reply.lines)
        #expect(SMTPCapabilities(ehloReply: handBuilt).keywords == Self.referenceKeywords(handBuilt))
        Self.expectAnswersMatchReference(reply)
        Self.expectAnswersMatchReference(handBuilt)
    }

    @Test("Capabilities of random replies match the parse by Characters", arguments: 0..<10)
    func randomCapabilitiesMatchReference(seed: Int) {
        var random = SplitMix(seed: UInt64(seed) + 1000)
        let alphabet = Array("aZ =-.ü\u{301}\t09".unicodeScalars)
        for _ in 0..<50 {
            let lines = (0..<Int(random.next() % 6 + 1)).map { _ in
                var view = String.UnicodeScalarView()
                for _ in 0..<(random.next() % 12) { view.append(alphabet[Int(random.next() % UInt64(alphabet.count))]) }
                return String(view)
            }
            let reply = SMTPReply(code: 250, lines: lines)
            #expect(SMTPCapabilities(ehloReply: reply).keywords == Self.referenceKeywords(reply))
            Self.expectAnswersMatchReference(reply)
        }
    }

    @Test("Transcript lines are the code, a space and each line", arguments: [250, 550, 0, -1, 1_000, Int.min])
    func transcriptLines(code: Int) throws {
        let replies = [
            try parseAll("250-mx.example\r\n250-PIPELINING\r\n250 \r\n")[0],
            try parseAll("550 5.1.1 no such user ü\r\n")[0],
            SMTPReply(code: code, lines: ["5.1.1 a", "", "b\u{301} c"]),
        ]
        for reply in replies {
            for suffix in ["", " (void)"] {
                var made: [String] = []
                reply.forEachTranscriptLine(suffix: suffix) { made.append($0) }
                #expect(made == reply.lines.map { "\(reply.code) \($0)\(suffix)" })
            }
        }
    }
}

/// A small deterministic generator for the random-input test.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SMTPCapabilities {
    /// Capabilities with this keyword table (as a test builds them).
    init(keywords: [String: [String]]) {
        self.init()
        self.keywords = keywords
    }
}
