import DirectSMTPTesting
import SMTPClient
import Sockets
import Testing

private let sender = try! EmailAddress("app@sender.example")
private let recipient = try! EmailAddress("jane@example.com")

private func makeSession(
    _ server: MockSMTPServer, timeouts: SMTPTimeouts = .uniform(.seconds(2)), credentials: SMTPCredentials? = nil
) throws -> SMTPSession {
    SMTPSession(server: server.address,
                configuration: try SMTPSessionConfiguration(heloName: "client.test", timeouts: timeouts, credentials: credentials))
}

private func message(_ text: String = "Your code is 123456.", subject: String = "Welcome") -> MessageData {
    Message(from: sender, to: recipient, subject: subject, text: text).encoded()
}

// 5 s: no scenario of the table waits for a timeout (the silences have their own), and
// on a loaded machine a reply sent one byte at a time can take seconds.
private func send(_ script: MockSMTPScript, timeouts: SMTPTimeouts = .uniform(.seconds(5)),
                  data: MessageData = message()) async throws -> (SMTPResult, MockSMTPServer, SMTPSession) {
    let server = try MockSMTPServer.start(script)
    let session = try makeSession(server, timeouts: timeouts)
    let result = await session.send(from: sender, to: recipient, data: data)
    return (result, server, session)
}

/// Server behaviours and the verdict they must give (send mode).
private let scenarios: [(String, @Sendable (inout MockSMTPScript) -> Void, SMTPVerdict, SMTPStep)] = [
    ("accepted", { _ in }, .accepted, .endOfData),
    ("550 5.1.1 recipient", { $0.rcpt = .reply(550, "5.1.1 no such user") }, .recipientRejected, .rcpt),
    ("553 at MAIL", { $0.mail = .reply(553, "5.1.8 sender domain unknown") }, .senderRejected, .mail),
    ("550 at MAIL", { $0.mail = .reply(550, "5.7.1 sender blocked") }, .senderRejected, .mail),
    ("5.7.1 policy at RCPT", { $0.rcpt = .reply(554, "5.7.1 rejected by policy") }, .senderRejected, .rcpt),
    ("451 greylisting", { $0.rcpt = .reply(451, "4.7.1 greylisted") }, .temporaryFailure, .rcpt),
    ("421 at greeting", { $0.greeting = .reply(421, "4.3.2 too busy") }, .unreachable, .greeting),
    ("554 at greeting", { $0.greeting = .reply(554, "5.7.1 no service") }, .senderRejected, .greeting),
    ("4xx at EHLO", { $0.ehlo = .reply(451, "4.3.0 later") }, .unreachable, .ehlo),
    ("421 at MAIL", { $0.mail = .reply(421, "4.3.2 shutting down") }, .temporaryFailure, .mail),
    ("4xx at DATA", { $0.data = .reply(451, "4.3.0 later") }, .temporaryFailure, .data),
    ("421 at EHLO", { $0.ehlo = .reply(421, "4.3.2 closing") }, .unreachable, .ehlo),
    ("421 at RCPT", { $0.rcpt = .reply(421, "4.3.2 closing") }, .temporaryFailure, .rcpt),
    ("421 at DATA", { $0.data = .reply(421, "4.3.2 closing") }, .temporaryFailure, .data),
    ("421 after DATA", { $0.endOfData = .reply(421, "4.3.2 closing") }, .temporaryFailure, .endOfData),
    ("slow banner", { $0.greeting = $0.greeting.delayed(by: .milliseconds(100)) }, .accepted, .endOfData),
    ("multiline replies everywhere", {
        $0.mail = .reply(250, "2.1.0 sender", "2.1.0 ok")
        $0.rcpt = .reply(250, "2.1.5 recipient", "2.1.5 ok")
        $0.endOfData = .reply(250, "2.0.0 queued", "2.0.0 as 12345")
    }, .accepted, .endOfData),
    ("4xx after DATA", { $0.endOfData = .reply(451, "4.3.0 try again") }, .temporaryFailure, .endOfData),
    ("5.1.1 after DATA", { $0.endOfData = .reply(550, "5.1.1 gone") }, .recipientRejected, .endOfData),
    ("5xx after DATA", { $0.endOfData = .reply(554, "5.7.1 spam") }, .senderRejected, .endOfData),
    ("close mid-reply at greeting", { $0.greeting = .closeMidReply }, .unreachable, .greeting),
    ("close mid-reply at EHLO", { $0.ehlo = .closeMidReply }, .unreachable, .ehlo),
    ("close mid-reply at RCPT", { $0.rcpt = .closeMidReply }, .temporaryFailure, .rcpt),
    ("close mid-reply after DATA", { $0.endOfData = .closeMidReply }, .temporaryFailure, .endOfData),
    ("close instead of MAIL reply", { $0.mail = .close }, .temporaryFailure, .mail),
    ("garbage at greeting", { $0.greeting = .garbage("HTTP/1.1 400 Bad Request\r\n") }, .unreachable, .greeting),
    ("garbage at RCPT", { $0.rcpt = .garbage("25O OK\r\n") }, .temporaryFailure, .rcpt),
    ("mixed codes at EHLO", { $0.ehlo = .garbage("250-mx\r\n220 hi\r\n") }, .unreachable, .ehlo),
    ("one byte at a time", { $0.greeting = $0.greeting.oneByteAtATime(); $0.endOfData = $0.endOfData.oneByteAtATime() }, .accepted, .endOfData),
    ("EHLO 502: HELO", { $0.ehlo = .reply(502, "5.5.1 unrecognized") }, .accepted, .endOfData),
    ("no PIPELINING", { $0.pipelining = false }, .accepted, .endOfData),
    // A reply nobody asked for would be read as the next command's, shifting every later
    // reply one step (the real RCPT refusal never read): the session refuses to go on.
    ("two greetings in one write", { $0.greeting = .garbage("220 hi\r\n220 hi again\r\n") },
     .unreachable, .ehlo),
    ("two replies to MAIL, no PIPELINING", {
        $0.pipelining = false
        $0.mail = .garbage("250 2.1.0 ok\r\n250 2.1.0 ok again\r\n")
        $0.rcpt = .reply(550, "5.1.1 no such user")
    }, .temporaryFailure, .rcpt),
    ("a reply after 354 before the message", {
        $0.data = .garbage("354 go ahead\r\n250 2.0.0 too soon\r\n")
    }, .temporaryFailure, .endOfData),
]

/// Silence at each step: the timeout fires at that step.
private let silences: [(SMTPStep, @Sendable (inout MockSMTPScript) -> Void, SMTPVerdict)] = [
    (.greeting, { $0.greeting = .silence }, .unreachable),
    (.ehlo, { $0.ehlo = .silence }, .unreachable),
    (.mail, { $0.mail = .silence }, .temporaryFailure),
    (.rcpt, { $0.rcpt = .silence }, .temporaryFailure),
    (.data, { $0.data = .silence }, .temporaryFailure),
    (.endOfData, { $0.endOfData = .silence }, .temporaryFailure),
]

@Suite("SMTPSession against MockSMTPServer", .timeLimit(.minutes(1)))
struct SMTPSessionTests {
    @Test("Verdicts for each server behaviour", arguments: scenarios.indices)
    func scenario(index: Int) async throws {
        let (name, change, verdict, step) = scenarios[index]
        var script = MockSMTPScript()
        change(&script)
        let (result, server, _) = try await send(script)
        defer { server.stop() }
        #expect(result.verdict == verdict, "\(name): \(result)")
        #expect(result.step == step, "\(name): \(result)")
        #expect(server.deliveryCount == (verdict == .accepted ? 1 : 0), "\(name)")
    }

    @Test("Silence at each step ends in a timeout at that step", arguments: silences.indices)
    func silence(index: Int) async throws {
        let (step, change, verdict) = silences[index]
        var script = MockSMTPScript()
        change(&script)
        let clock = ContinuousClock()
        let start = clock.now
        // Only the silent step has a short timeout, so a slow machine cannot make another
        // step time out first.
        let otherSteps = Duration.seconds(10)
        var timeouts = SMTPTimeouts.uniform(otherSteps)
        switch step {
        case .greeting: timeouts.greeting = .milliseconds(250)
        case .ehlo: timeouts.ehlo = .milliseconds(250)
        case .mail: timeouts.mail = .milliseconds(250)
        case .rcpt: timeouts.rcpt = .milliseconds(250)
        case .data: timeouts.data = .milliseconds(250)
        default: timeouts.endOfData = .milliseconds(250)
        }
        let (result, server, _) = try await send(script, timeouts: timeouts)
        defer { server.stop() }
        let elapsed = clock.now - start
        #expect(result.verdict == verdict)
        #expect(result.step == step)
        #expect(result.detail?.contains("timed out") == true, "\(result)")
        // Under the other steps' timeout: the silent step's own 250 ms one fired (the steps
        // before it, slow on a loaded machine, are inside this bound too).
        #expect(elapsed < otherSteps)
        #expect(server.deliveryCount == 0)
    }

    @Test("Accepted: delivered exactly once, byte-exact, and the reply is returned")
    func accepted() async throws {
        let data = message()
        let (result, server, session) = try await send(MockSMTPScript(), data: data)
        defer { server.stop() }
        #expect(result.verdict == .accepted)
        #expect(result.reply?.code == 250 && result.reply?.enhancedCode == "2.0.0")
        #expect(server.deliveryCount == 1)
        let delivery = try #require(server.deliveries.first)
        #expect(delivery.data == data.bytes)
        #expect(delivery.from == "app@sender.example" && delivery.to == ["jane@example.com"])
        #expect(delivery.mailParameters == ["SIZE=\(data.bytes.count)"])
        let timings = await session.timings
        for step in [SMTPStep.connect, .greeting, .ehlo, .mail, .rcpt, .data, .endOfData] {
            #expect(timings[step] != nil, "no timing for \(step)")
        }
        let transcript = await session.transcript
        #expect(transcript.first?.text.hasPrefix("220 ") == true)
        #expect(transcript.contains { $0.direction == .sent && $0.text.hasPrefix("QUIT") })
        #expect(await server.waitUntilIdle())
    }

    @Test("With PIPELINING the server sees MAIL+RCPT+DATA in one read; without it, one command per read",
          arguments: [true, false])
    func pipeliningReads(pipelining: Bool) async throws {
        var script = MockSMTPScript()
        script.pipelining = pipelining
        let (result, server, _) = try await send(script)
        defer { server.stop() }
        #expect(result.verdict == .accepted)
        let reads = try #require(server.sessions.first).readTexts
        let group = reads.first { $0.hasPrefix("MAIL FROM:") }
        if pipelining {
            #expect(group?.contains("\r\nRCPT TO:<jane@example.com>\r\nDATA\r\n") == true, "\(reads)")
        } else {
            #expect(group == "MAIL FROM:<app@sender.example> SIZE=\(message().bytes.count)\r\n", "\(reads)")
            #expect(reads.contains("RCPT TO:<jane@example.com>\r\n"))
            #expect(reads.contains("DATA\r\n"))
        }
    }

    /// Regression: after a refused RCPT in a pipelined group the session wrote
    /// "RSET\r\nQUIT\r\n" without looking at the DATA reply. A server that (wrongly) answered
    /// DATA with 354 then read those commands as message content. RFC 2920 §3.1: check
    /// the DATA reply; after a 354 send a lone dot, after a refusal RSET.
    @Test("Pipelined: a refused RCPT never feeds commands into an accepted DATA", arguments: [
        // (server answers DATA with 354 despite no recipient, what must follow DATA on the wire)
        (true, "DATA\r\n.\r\nQUIT\r\n"),
        (false, "DATA\r\nRSET\r\nQUIT\r\n"),
    ])
    func refusedRecipientWithPipelinedData(dataWithoutRecipients: Bool, expectedTail: String) async throws {
        var script = MockSMTPScript()
        script.rcpt = .reply(550, "5.1.1 no such user")
        script.dataWithoutRecipients = dataWithoutRecipients
        let (result, server, session) = try await send(script)
        defer { server.stop() }
        #expect(result.verdict == .recipientRejected)
        #expect(result.step == .rcpt)
        #expect(result.reply?.enhancedCode == "5.1.1")
        #expect(await server.waitUntilIdle())
        let wire = try #require(server.sessions.first).readTexts.joined()
        #expect(wire.hasSuffix(expectedTail), "\(wire)")
        #expect(server.deliveries.isEmpty)
        #expect(!(await session.transcript).contains { $0.text.contains("message:") })
    }

    @Test("Pipelined: a refused MAIL voids the RCPT and DATA replies; RSET and QUIT follow")
    func refusedSenderWithPipelinedData() async throws {
        var script = MockSMTPScript()
        script.mail = .reply(550, "5.7.1 sender blocked")
        script.dataWithoutRecipients = true     // still refused: MAIL failed (503 / 554)
        let (result, server, session) = try await send(script)
        defer { server.stop() }
        #expect(result.verdict == .senderRejected)
        #expect(result.step == .mail)
        #expect(result.reply?.code == 550)
        #expect(await server.waitUntilIdle())
        let wire = try #require(server.sessions.first).readTexts.joined()
        #expect(wire.hasSuffix("DATA\r\nRSET\r\nQUIT\r\n"), "\(wire)")
        #expect(server.deliveries.isEmpty)
        #expect(await session.replies[.rcpt] == nil)
    }

    @Test("Lines starting with a dot and bare LFs arrive byte-exact, stuffed on the wire")
    func dotsAndBareLFs() async throws {
        let text = ".starts with a dot\n..two dots\nbare LF\rbare CR\r\n.\nend."
        let data = message(text)
        let (result, server, _) = try await send(MockSMTPScript(), data: data)
        defer { server.stop() }
        #expect(result.verdict == .accepted)
        let delivery = try #require(server.deliveries.first)
        #expect(delivery.data == data.bytes)
        #expect(delivery.text.hasSuffix("\r\n\r\n.starts with a dot\r\n..two dots\r\nbare LF\r\nbare CR\r\n.\r\nend.\r\n"))
        let wire = String(decoding: delivery.wireData, as: UTF8.self)
        #expect(wire.contains("\r\n..starts with a dot\r\n...two dots\r\n"))
        #expect(wire.hasSuffix("\r\n..\r\nend.\r\n.\r\n"))
    }

    @Test("A MessageData with raw bare LFs and dots is normalised on the wire (no smuggling)")
    func smuggling() async throws {
        let raw = MessageData(bytes: Array("Subject: x\n\nhello\n.\nMAIL FROM:<evil@x>\r\n".utf8), messageID: "<s@x>")
        let (result, server, _) = try await send(MockSMTPScript(), data: raw)
        defer { server.stop() }
        #expect(result.verdict == .accepted)
        #expect(server.transactions.count == 1)
        let delivery = try #require(server.deliveries.first)
        #expect(delivery.text == "Subject: x\r\n\r\nhello\r\n.\r\nMAIL FROM:<evil@x>\r\n")
    }

    @Test("UTF-8 subject and body arrive encoded (RFC 2047, quoted-printable)")
    func utf8Message() async throws {
        let data = Message(from: sender, to: recipient, subject: "Código de verificación ✓", text: "Hola, José — 123456").encoded()
        let (result, server, _) = try await send(MockSMTPScript(), data: data)
        defer { server.stop() }
        #expect(result.verdict == .accepted)
        let delivery = try #require(server.deliveries.first)
        #expect(delivery.data.allSatisfy { $0 < 0x80 })
        #expect(delivery.text.contains("Subject: =?UTF-8?B?"))
        #expect(delivery.text.contains("Hola, Jos=C3=A9 =E2=80=94 123456"))
        #expect(!delivery.mailParameters.contains("BODY=8BITMIME"))
    }

    @Test("An injected command is refused before any byte is sent", arguments: [
        "a@b.com\r\nRCPT TO:<x>", "a@b.com\nDATA", "a@b.com\r\n.\r\nQUIT",
    ])
    func injection(text: String) async throws {
        let server = try MockSMTPServer.start()
        defer { server.stop() }
        #expect(throws: EmailAddressError.self) { try EmailAddress(text) }
        #expect(throws: EmailAddressError.self) {
            try SMTPSessionConfiguration(heloName: "client.test\r\nMAIL FROM:<x>")
        }
        #expect(server.connectionCount == 0)
    }

    @Test("Greylisting: 451 first, accepted when retried after the delay, delivered once")
    func greylisting() async throws {
        let wait = Duration.milliseconds(600)
        var script = MockSMTPScript()
        script.greylisting = wait
        let server = try MockSMTPServer.start(script)
        defer { server.stop() }
        let clock = ContinuousClock()
        let start = clock.now
        let first = await (try makeSession(server)).send(from: sender, to: recipient, data: message())
        #expect(first.verdict == .temporaryFailure && first.reply?.code == 451 && first.step == .rcpt)
        let firstDone = clock.now  // the greylisting window opened before this
        let early = await (try makeSession(server)).send(from: sender, to: recipient, data: message())
        // Only meaningful if the machine was quick enough to retry inside the window.
        if clock.now - start < wait { #expect(early.verdict == .temporaryFailure) }
        try await clock.sleep(until: firstDone + wait + .milliseconds(50))
        let retry = await (try makeSession(server)).send(from: sender, to: recipient, data: message())
        #expect(retry.verdict == .accepted)
        // Greylisted attempts deliver nothing: one delivery per accepted attempt.
        #expect(server.deliveryCount == (early.verdict == .accepted ? 2 : 1))
        #expect(server.transactions.count == 3)
    }

    @Test("Probe: a reply out of turn never turns a refused recipient into accepted",
          arguments: [false, true])
    func probeOutOfTurn(pipelining: Bool) async throws {
        // The second MAIL reply would be taken as RCPT's: "accepted". With PIPELINING the
        // replies of MAIL and RCPT are read back to back, the stray one among them.
        // All three replies in one write, so the test does not depend on how TCP
        // segments them; the mock then stays silent for RCPT.
        var script = MockSMTPScript()
        script.pipelining = pipelining
        script.mail = .garbage("250 2.1.0 ok\r\n250 2.1.0 ok again\r\n550 5.1.1 no such user\r\n")
        script.rcpt = .silence
        let server = try MockSMTPServer.start(script)
        defer { server.stop() }
        let result = await (try makeSession(server)).probe(from: sender, to: recipient)
        #expect(result.verdict == .temporaryFailure, "\(result)")
        #expect(result.detail?.contains("out of turn") == true, "\(result)")
    }

    @Test("A surplus reply in a pipelined group ends the session as a protocol error",
          arguments: [true, false])
    func surplusReplyInGroup(probe: Bool) async throws {
        // MAIL gets "250 ok" and an unasked "250 extra"; RCPT's refusal comes in a later
        // segment, so no buffered byte gives the surplus away at the RCPT reply.
        var script = MockSMTPScript()
        script.mail = .garbage("250 2.1.0 ok\r\n250 2.1.0 extra\r\n")
        script.rcpt = MockSMTPResponse.reply(550, "5.1.1 no such user").delayed(by: .milliseconds(50))
        let server = try MockSMTPServer.start(script)
        defer { server.stop() }
        let session = try makeSession(server)
        let result = probe
            ? await session.probe(from: sender, to: recipient)
            : await session.send(from: sender, to: recipient, data: message())
        #expect(result.verdict == .temporaryFailure, "\(result)")
        #expect(result.detail?.contains("out of turn") == true, "\(result)")
        #expect(server.deliveryCount == 0)
    }

    @Test("End of data answered with 250 twice: delivered, the surplus only recorded")
    func endOfDataTwice() async throws {
        var script = MockSMTPScript()
        script.endOfData = .garbage("250 2.0.0 queued\r\n250 2.0.0 queued again\r\n")
        let (result, server, session) = try await send(script)
        defer { server.stop() }
        #expect(result.verdict == .accepted && result.step == .endOfData, "\(result)")
        #expect(result.reply?.text.contains("queued") == true)
        #expect(result.detail?.contains("out of turn") == true, "\(result)")
        #expect(await session.transcript.contains { $0.text.contains("out of turn") })
    }

    @Test("The mock records a quoted local part holding '>' whole")
    func mockQuotedPath() async throws {
        let server = try MockSMTPServer.start()
        defer { server.stop() }
        let quoted = try EmailAddress(#""a>b"@example.com"#)
        let result = await (try makeSession(server)).send(
            from: sender, to: quoted, data: Message(from: sender, to: quoted, subject: "s", text: "t").encoded())
        #expect(result.verdict == .accepted, "\(result)")
        #expect(server.deliveries.first?.to == [#""a>b"@example.com"#])
    }

    @Test("The mock SMTP server listens on loopback only", arguments: ["0.0.0.0", "::", "7f00::1"])
    func mockRefusesNonLoopback(host: String) {
        #expect(throws: SocketError.self) { _ = try MockSMTPServer.start(host: host) }
    }

    @Test("A 421 out of turn is the answer to the command due (it may come unasked)")
    func unasked421() async throws {
        var script = MockSMTPScript()
        script.pipelining = false
        script.mail = .garbage("250 2.1.0 ok\r\n421 4.3.2 shutting down\r\n")
        let (result, server, _) = try await send(script)
        defer { server.stop() }
        #expect(result.verdict == .temporaryFailure && result.step == .rcpt, "\(result)")
        #expect(result.reply?.code == 421 && result.reply?.enhancedCode == "4.3.2", "\(result)")
        #expect(server.deliveryCount == 0)
    }

    @Test("Probe: MAIL and RCPT, then RSET and QUIT; never DATA", arguments: [
        (250, SMTPVerdict.accepted), (550, .recipientRejected), (450, .temporaryFailure),
    ])
    func probe(code: Int, verdict: SMTPVerdict) async throws {
        var script = MockSMTPScript()
        script.rcpt = .reply(code, code == 250 ? "2.1.5 ok" : "x.1.1 nope".replacingFirst(code == 550 ? "5" : "4"))
        let server = try MockSMTPServer.start(script)
        defer { server.stop() }
        let session = try makeSession(server)
        let result = await session.probe(from: sender, to: recipient)
        #expect(result.verdict == verdict && result.step == .rcpt)
        #expect(await server.waitUntilIdle())
        let commands = try #require(server.sessions.first).commands
        #expect(!commands.contains("DATA"))
        #expect(commands.suffix(2) == ["RSET", "QUIT"])
        #expect(server.deliveryCount == 0)
    }

    @Test("Per-recipient replies: only the scripted recipient is refused")
    func perRecipient() async throws {
        let server = try MockSMTPServer.start { $0.recipients["nobody@example.com"] = .reply(550, "5.1.1 no such user") }
        defer { server.stop() }
        let refused = await (try makeSession(server)).probe(from: sender, to: try EmailAddress("Nobody@example.com"))
        let known = await (try makeSession(server)).probe(from: sender, to: recipient)
        #expect(refused.verdict == .recipientRejected && refused.reply?.enhancedCode == "5.1.1")
        #expect(refused.reply?.text == "no such user")
        #expect(known.verdict == .accepted)
    }

    @Test("Concurrent sessions: every message delivered exactly once")
    func concurrent() async throws {
        let server = try MockSMTPServer.start()
        defer { server.stop() }
        let configuration = try SMTPSessionConfiguration(heloName: "client.test")
        let address = server.address
        let verdicts = await withTaskGroup(of: SMTPVerdict.self) { group in
            for index in 0..<50 {
                group.addTask {
                    let data = Message(from: sender, to: recipient, subject: "n\(index)", text: "message \(index)").encoded()
                    return await SMTPSession(server: address, configuration: configuration).send(from: sender, to: recipient, data: data).verdict
                }
            }
            var all: [SMTPVerdict] = []
            for await verdict in group { all.append(verdict) }
            return all
        }
        #expect(verdicts.allSatisfy { $0 == .accepted })
        #expect(server.deliveryCount == 50)
        #expect(Set(server.deliveries.map { $0.text.split(separator: "\r\n").last.map(String.init) ?? "" }).count == 50)
    }

    @Test("Addresses go on the wire verbatim: quoted local parts, literals, A-labels, UTF-8", arguments: [
        ("\"a b\"@example.com", "RCPT TO:<\"a b\"@example.com>"),
        ("user@[192.0.2.1]", "RCPT TO:<user@[192.0.2.1]>"),
        ("user@[IPv6:2001:db8::1]", "RCPT TO:<user@[IPv6:2001:db8::1]>"),
        ("Jane@Bücher.example", "RCPT TO:<Jane@xn--bcher-kva.example>"),
        ("josé@example.com", "RCPT TO:<josé@example.com>"),
    ])
    func wireForm(text: String, command: String) async throws {
        let server = try MockSMTPServer.start()
        defer { server.stop() }
        let result = await (try makeSession(server)).probe(from: sender, to: try EmailAddress(text))
        #expect(result.verdict == .accepted)
        #expect(await server.waitUntilIdle())
        let commands = try #require(server.sessions.first).commands
        #expect(commands.contains(command), "\(commands)")
        let utf8 = text.unicodeScalars.first { $0 == "é" } != nil
        #expect(commands.contains("MAIL FROM:<app@sender.example>\(utf8 ? " SMTPUTF8" : "")"), "\(commands)")
    }

    @Test("Connection refused is unreachable at connect")
    func refused() async throws {
        let server = try MockSMTPServer.start()
        let address = server.address
        server.stop()
        let session = SMTPSession(server: address, configuration: try SMTPSessionConfiguration(heloName: "client.test"))
        let result = await session.open()
        #expect(result?.verdict == .unreachable && result?.step == .connect)
    }

    @Test("open() returns promptly when its task is cancelled")
    func cancelledOpen() async throws {
        var script = MockSMTPScript()
        script.greeting = .silence
        let server = try MockSMTPServer.start(script)
        defer { server.stop() }
        let greetingTimeout = Duration.seconds(10)
        let session = try makeSession(server, timeouts: .uniform(greetingTimeout))
        let clock = ContinuousClock()
        let start = clock.now
        let task = Task { await session.open() }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        let result = await task.value
        // Ended by the cancellation (the detail), before the greeting's timeout could.
        #expect(clock.now - start < greetingTimeout)
        #expect(result?.verdict == .unreachable)
        #expect(result?.detail?.contains("cancelled") == true)
    }

    @Test("close() during open(): open() is not ready, and nothing is sent afterwards")
    func closeDuringOpen() async throws {
        let server = try MockSMTPServer.start { $0.ehlo = MockSMTPScript().ehloResponse(heloName: "x").delayed(by: .milliseconds(300)) }
        defer { server.stop() }
        let timeout = Duration.seconds(5)
        let session = try makeSession(server, timeouts: .uniform(timeout))
        let clock = ContinuousClock()
        let start = clock.now
        let opening = Task { await session.open() }
        try await Task.sleep(for: .milliseconds(100))
        await session.close()
        let opened = await opening.value
        #expect(opened != nil)
        #expect(opened?.verdict == .unreachable)
        // Ended by close(), not by a step's timeout.
        #expect(clock.now - start < timeout)
        let result = await session.send(from: sender, to: recipient, data: message())
        #expect(result.verdict != .accepted)
        #expect(await server.waitUntilIdle())
        #expect(server.transactions.isEmpty)
    }

    @Test("QUIT is not awaited: a server that never answers QUIT costs nothing")
    func quitNotAwaited() async throws {
        // The server would take 5 s to answer QUIT.
        let quitDelay = Duration.seconds(5)
        let server = try MockSMTPServer.start { $0.quit = .reply(221, "2.0.0 bye").delayed(by: quitDelay) }
        defer { server.stop() }
        let session = try makeSession(server, timeouts: .uniform(.seconds(10)))
        let clock = ContinuousClock()
        let start = clock.now
        let result = await session.send(from: sender, to: recipient, data: message())
        #expect(result.verdict == .accepted)
        // Awaiting QUIT's answer would take its delay; the transcript below checks it too.
        #expect(clock.now - start < quitDelay)
        // No reply to QUIT was read: the transcript ends with what we sent.
        #expect(await session.transcript.last?.direction == .sent)
        await session.close()
        await session.close()
    }

    @Test("Round trips: with PIPELINING a send waits at most 4 times after connect")
    func roundTrips() async throws {
        var script = MockSMTPScript()
        // Long enough that scheduling noise on a busy machine is small beside one wait.
        let delay = Duration.milliseconds(250)
        script.replyDelay = delay
        let server = try MockSMTPServer.start(script)
        defer { server.stop() }
        // The fewest waits of three sends: another suite hogging both cores can stretch
        // one send by a whole delay, but not all three.
        var fewest = Double.infinity
        for _ in 0..<3 {
            let session = try makeSession(server)
            #expect(await session.open() == nil)
            let clock = ContinuousClock()
            let start = clock.now
            let result = await session.send(from: sender, to: recipient, data: message())
            let elapsed = clock.now - start + ((await session.timings[.greeting]) ?? .zero) + ((await session.timings[.ehlo]) ?? .zero)
            #expect(result.verdict == .accepted)
            fewest = min(fewest, elapsed / delay)
            if fewest < 5 { break }
        }
        // A fifth wait would add a whole delay: below 5 means at most 4 waits.
        #expect(fewest > 3.8 && fewest < 5, "waits: \(fewest)")
    }

    #if OpenSSL  // AUTH only over TLS
    @Test("AUTH PLAIN and LOGIN against the mock (over TLS); credentials never in the transcript", arguments: [true, false])
    func auth(plain: Bool) async throws {
        let credentials = try SMTPCredentials(username: "webapp", password: "correct horse")
        var script = MockSMTPScript()
        script.offersStartTLS = true
        script.credentials = credentials
        script.authMechanisms = plain ? ["PLAIN", "LOGIN"] : ["LOGIN"]
        let server = try MockSMTPServer.start(script)
        defer { server.stop() }
        let session = try makeSession(server, timeouts: .uniform(.seconds(5)), credentials: credentials)
        let result = await session.send(from: sender, to: recipient, data: message())
        #expect(result.verdict == .accepted)
        #expect(server.sessions.first?.authenticatedAs == "webapp")
        let transcript = await session.transcript.map(\.text).joined(separator: "\n")
        #expect(!transcript.contains("correct horse"))
        #expect(!transcript.contains("d2ViYXBw"))  // "webapp" in base64
        #expect(transcript.contains(plain ? "AUTH PLAIN <redacted>" : "AUTH LOGIN\n334 VXNlcm5hbWU6\n<redacted>"))
        let commands = try #require(server.sessions.first).commands
        #expect(commands.contains { $0.hasPrefix(plain ? "AUTH PLAIN " : "AUTH LOGIN") })
    }
    #endif

    @Test("close() after open() sends QUIT and nothing else")
    func openThenClose() async throws {
        let server = try MockSMTPServer.start()
        defer { server.stop() }
        let session = try makeSession(server)
        #expect(await session.open() == nil)
        #expect(await session.capabilities.pipelining)
        await session.close()
        #expect(await server.waitUntilIdle())
        #expect(server.sessions.first?.commands == ["EHLO client.test", "QUIT"])
        let late = await session.send(from: sender, to: recipient, data: message())
        #expect(late.verdict == .temporaryFailure)
        #expect(server.transactions.isEmpty)
    }

    #if OpenSSL  // AUTH only over TLS
    @Test("Wrong credentials are a sender rejection at AUTH")
    func authFailure() async throws {
        var script = MockSMTPScript()
        script.offersStartTLS = true
        script.credentials = try SMTPCredentials(username: "webapp", password: "right")
        let server = try MockSMTPServer.start(script)
        defer { server.stop() }
        let session = try makeSession(server, timeouts: .uniform(.seconds(5)), credentials: try SMTPCredentials(username: "webapp", password: "wrong"))
        let result = await session.open()
        #expect(result?.verdict == .senderRejected && result?.step == .auth && result?.reply?.code == 535)
    }
    #endif

    @Test("A UTF-8 recipient without SMTPUTF8 is refused before MAIL is sent")
    func smtpUTF8NotOffered() async throws {
        var script = MockSMTPScript()
        script.extensions = ["8BITMIME"]
        let server = try MockSMTPServer.start(script)
        defer { server.stop() }
        let session = try makeSession(server)
        let result = await session.probe(from: sender, to: try EmailAddress("josé@example.com"))
        #expect(result.verdict == .recipientRejected && result.reply?.enhancedCode == "5.6.7")
        #expect(await server.waitUntilIdle())
        #expect(server.transactions.isEmpty)
    }

    /// Regression: a second send() or probe() on a finished session returned the first
    /// transaction's result: an `.accepted` for a message that never left.
    @Test("A second transaction on a finished session is never reported as accepted")
    func secondTransaction() async throws {
        let (first, server, session) = try await send(MockSMTPScript())
        defer { server.stop() }
        #expect(first.verdict == .accepted)
        let second = await session.send(from: sender, to: try EmailAddress("other@example.com"), data: message("second"))
        #expect(second.verdict == .temporaryFailure)
        #expect(second.reply == nil)
        let probe = await session.probe(from: sender, to: recipient)
        #expect(probe.verdict == .temporaryFailure)
        #expect(await server.waitUntilIdle())
        #expect(server.deliveries.count == 1)
        #expect(server.connectionCount == 1)
        #expect(await session.result == first)
    }

    @Test("send() after a failed open() gives the opening failure")
    func sendAfterFailedOpen() async throws {
        var script = MockSMTPScript()
        script.greeting = .reply(554, "5.7.1 no service")
        let server = try MockSMTPServer.start(script)
        defer { server.stop() }
        let session = try makeSession(server)
        let opened = await session.open()
        #expect(opened?.verdict == .senderRejected)
        let result = await session.send(from: sender, to: recipient, data: message())
        #expect(result == opened)
    }
}

extension String {
    fileprivate func replacingFirst(_ digit: String) -> String { digit + dropFirst() }
}
