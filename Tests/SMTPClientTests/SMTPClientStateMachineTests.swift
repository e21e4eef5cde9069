@testable import SMTPClient
import Testing

private func reply(_ text: String) -> SMTPReply {
    var parser = SMTPReplyParser()
    parser.feed(Array((text.replacingLF()).utf8))
    return try! parser.next()!
}

extension String {
    /// "\n" separated lines to CRLF lines, with a final CRLF.
    fileprivate func replacingLF() -> String {
        split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\r\n") + "\r\n"
    }
}

private let sender = try! EmailAddress("app@sender.example")
private let recipient = try! EmailAddress("jane@example.com")
private let data = MessageData(bytes: Array("Subject: x\r\n\r\nhi\r\n".utf8), messageID: "<1@x>")

/// A machine that has seen the greeting and this EHLO reply.
private func readyMachine(ehlo: String = "250-mx\n250-PIPELINING\n250-8BITMIME\n250-SMTPUTF8\n250 SIZE 1000",
                          credentials: SMTPCredentials? = nil) -> (SMTPClientStateMachine, SMTPClientStateMachine.Action) {
    var machine = SMTPClientStateMachine(
        heloName: "client.example", credentials: credentials, tlsPolicy: credentials == nil ? .off : .opportunistic)
    _ = machine.connected()
    _ = machine.receive(reply("220 mx ESMTP"))
    if credentials != nil {
        // AUTH only over TLS: STARTTLS first.
        _ = machine.receive(reply("250-mx\n250 STARTTLS"))
        _ = machine.receive(reply("220 go ahead"))
        _ = machine.tlsEstablished(SMTPTLSInfo(
            version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", serverName: nil,
            startTLSReply: .zero, handshake: .zero))
    }
    let action = machine.receive(reply(ehlo))
    return (machine, action)
}

private func commands(_ action: SMTPClientStateMachine.Action) -> [String] {
    guard case .send(let commands) = action else { return [] }
    return commands.map { String(decoding: $0.bytes, as: UTF8.self) }
}

private func verdict(_ action: SMTPClientStateMachine.Action) -> SMTPResult? {
    guard case .finish(let result) = action else { return nil }
    return result
}

/// STANDARDS.md "What a reply means", step by step (send mode, no pipelining so each
/// step's reply is the deciding one).
private let replyTable: [(SMTPStep, String, SMTPVerdict)] = [
    (.greeting, "421 4.3.2 busy", .unreachable),
    (.greeting, "450 try later", .unreachable),
    (.greeting, "554 5.7.1 no service for you", .senderRejected),
    (.ehlo, "421 4.3.2 closing", .unreachable),
    (.ehlo, "451 later", .unreachable),
    (.ehlo, "550 5.7.1 go away", .senderRejected),
    (.ehlo, "554 no", .senderRejected),
    (.mail, "451 4.3.0 try again", .temporaryFailure),
    (.mail, "421 4.3.2 closing", .temporaryFailure),
    (.mail, "553 5.1.8 bad sender domain", .senderRejected),
    (.mail, "550 5.7.1 blocked", .senderRejected),
    (.mail, "550 no", .senderRejected),
    (.rcpt, "450 4.2.0 greylisted", .temporaryFailure),
    (.rcpt, "451 4.7.1 greylisted", .temporaryFailure),
    (.rcpt, "452 4.2.2 mailbox full", .temporaryFailure),
    (.rcpt, "550 5.1.1 no such user", .recipientRejected),
    (.rcpt, "550 5.2.1 disabled", .recipientRejected),
    (.rcpt, "551 user not local", .recipientRejected),
    (.rcpt, "553 mailbox name not allowed", .recipientRejected),
    (.rcpt, "550 5.7.1 relaying denied", .senderRejected),
    (.rcpt, "554 5.7.1 blocked by policy", .senderRejected),
    (.rcpt, "550 4.7.1 class mismatch is not an enhanced code", .recipientRejected),
    (.data, "451 4.3.0 later", .temporaryFailure),
    (.data, "554 5.7.1 policy", .senderRejected),
    (.data, "554 5.1.1 no valid recipients", .recipientRejected),
    (.data, "554 no", .senderRejected),
    (.endOfData, "250 2.0.0 queued", .accepted),
    (.endOfData, "451 4.3.0 later", .temporaryFailure),
    (.endOfData, "452 4.3.1 out of storage", .temporaryFailure),
    (.endOfData, "550 5.1.1 no such user", .recipientRejected),
    (.endOfData, "554 5.7.1 spam", .senderRejected),
    (.endOfData, "552 5.3.4 too big", .senderRejected),
    (.endOfData, "354 again?", .temporaryFailure),
    (.endOfData, "550 4.1.1 class mismatch", .senderRejected),
    (.data, "554 4.1.1 class mismatch", .senderRejected),
    (.data, "250 no 354", .temporaryFailure),
    (.greeting, "550 5.7.1 go away", .senderRejected),
    (.mail, "354 go", .temporaryFailure),
    (.rcpt, "354 go", .temporaryFailure),
]

@Suite("SMTP client state machine")
struct SMTPClientStateMachineTests {
    @Test("The reply table", arguments: replyTable)
    func table(step: SMTPStep, text: String, expected: SMTPVerdict) {
        var machine = SMTPClientStateMachine(heloName: "client.example")
        #expect(machine.connected() == .awaitReply)
        let script: [(SMTPStep, String)] = [
            (.greeting, "220 mx"), (.ehlo, "250 mx"), (.mail, "250 ok"), (.rcpt, "250 ok"), (.data, "354 go"),
            (.endOfData, "250 ok"),
        ]
        var action = SMTPClientStateMachine.Action.awaitReply
        for (current, ok) in script {
            if current == .mail { action = machine.startTransaction(from: sender, to: recipient, data: data) }
            #expect(machine.awaitedStep == current)
            if current == step {
                action = machine.receive(reply(text))
                let result = verdict(action)
                #expect(result?.verdict == expected)
                #expect(result?.step == step)
                #expect(result?.reply?.code == reply(text).code)
                return
            }
            action = machine.receive(reply(ok))
            if current == .ehlo { #expect(action == .ready) }
        }
        Issue.record("step \(step) not reached")
    }

    @Test("The full conversation without PIPELINING: one command at a time")
    func sequential() {
        var (machine, action) = readyMachine(ehlo: "250-mx\n250 8BITMIME")
        #expect(action == .ready)
        action = machine.startTransaction(from: sender, to: recipient, data: data)
        #expect(commands(action) == ["MAIL FROM:<app@sender.example>\r\n"])
        #expect(commands(machine.receive(reply("250 2.1.0 ok"))) == ["RCPT TO:<jane@example.com>\r\n"])
        #expect(commands(machine.receive(reply("250 2.1.5 ok"))) == ["DATA\r\n"])
        #expect(machine.receive(reply("354 go ahead")) == .sendMessage)
        #expect(machine.awaitedStep == .endOfData)
        let result = verdict(machine.receive(reply("250 2.0.0 queued as 1")))
        #expect(result?.verdict == .accepted && result?.step == .endOfData && result?.reply?.enhancedCode == "2.0.0")
    }

    @Test("With PIPELINING: MAIL, RCPT and DATA in one group, SIZE given")
    func pipelined() {
        var (machine, _) = readyMachine()
        let action = machine.startTransaction(from: sender, to: recipient, data: data)
        #expect(commands(action) == ["MAIL FROM:<app@sender.example> SIZE=\(data.bytes.count)\r\n", "RCPT TO:<jane@example.com>\r\n", "DATA\r\n"])
        #expect(machine.receive(reply("250 ok")) == .awaitReply)
        #expect(machine.receive(reply("250 ok")) == .awaitReply)
        #expect(machine.receive(reply("354 go")) == .sendMessage)
        #expect(verdict(machine.receive(reply("250 ok")))?.verdict == .accepted)
    }

    @Test("With PIPELINING a rejected MAIL decides at once; later replies mean nothing")
    func pipelinedMailRejected() {
        var (machine, _) = readyMachine()
        _ = machine.startTransaction(from: sender, to: recipient, data: data)
        let result = verdict(machine.receive(reply("553 5.1.8 sender domain does not exist")))
        #expect(result?.verdict == .senderRejected && result?.step == .mail)
        #expect(machine.awaitedStep == nil)
    }

    @Test("With PIPELINING a rejected RCPT decides before the DATA reply")
    func pipelinedRcptRejected() {
        var (machine, _) = readyMachine()
        _ = machine.startTransaction(from: sender, to: recipient, data: data)
        #expect(machine.receive(reply("250 ok")) == .awaitReply)
        let result = verdict(machine.receive(reply("550 5.1.1 no such user")))
        #expect(result?.verdict == .recipientRejected && result?.step == .rcpt)
    }

    @Test("EHLO rejected with 500 or 502 falls back to HELO", arguments: [500, 502])
    func heloFallback(code: Int) {
        var machine = SMTPClientStateMachine(heloName: "client.example")
        _ = machine.connected()
        #expect(commands(machine.receive(reply("220 old server"))) == ["EHLO client.example\r\n"])
        #expect(commands(machine.receive(reply("\(code) what?"))) == ["HELO client.example\r\n"])
        #expect(machine.receive(reply("250 hi")) == .ready)
        #expect(!machine.capabilities.pipelining)
        let action = machine.startTransaction(from: sender, to: recipient, data: data)
        #expect(commands(action) == ["MAIL FROM:<app@sender.example>\r\n"])
    }

    @Test("HELO rejected after EHLO fallback")
    func heloRejected() {
        var machine = SMTPClientStateMachine(heloName: "client.example")
        _ = machine.connected()
        _ = machine.receive(reply("220 old"))
        _ = machine.receive(reply("502 no EHLO"))
        let result = verdict(machine.receive(reply("550 no HELO either")))
        #expect(result?.verdict == .senderRejected && result?.step == .helo)
    }

    @Test("Probe: MAIL and RCPT, no DATA; 2xx at RCPT is accepted")
    func probe() {
        var (machine, _) = readyMachine()
        let action = machine.startProbe(from: sender, to: recipient)
        #expect(commands(action) == ["MAIL FROM:<app@sender.example>\r\n", "RCPT TO:<jane@example.com>\r\n", "RSET\r\n"])
        #expect(machine.receive(reply("250 ok")) == .awaitReply)
        #expect(machine.receive(reply("250 2.1.5 ok")) == .awaitReply)
        #expect(machine.awaitsAuxiliaryReply)
        let result = verdict(machine.receive(reply("250 2.0.0 reset")))
        #expect(result?.verdict == .accepted && result?.step == .rcpt && result?.reply?.code == 250)
        #expect(machine.transactionReset)
    }

    @Test("STARTTLS: alone, then every capability forgotten and EHLO again")
    func startTLS() {
        var machine = SMTPClientStateMachine(heloName: "client.example", tlsPolicy: .opportunistic)
        _ = machine.connected()
        _ = machine.receive(reply("220 mx ESMTP"))
        let action = machine.receive(reply("250-mx\n250-PIPELINING\n250-AUTH PLAIN\n250 STARTTLS"))
        #expect(commands(action) == ["STARTTLS\r\n"])
        #expect(machine.awaitsAuxiliaryReply)
        #expect(machine.receive(reply("220 2.0.0 go ahead")) == .startTLS)
        let info = SMTPTLSInfo(version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", serverName: "mx",
                               startTLSReply: .milliseconds(1), handshake: .milliseconds(2))
        let again = machine.tlsEstablished(info)
        #expect(commands(again) == ["EHLO client.example\r\n"])
        #expect(machine.capabilities == SMTPCapabilities())
        #expect(machine.receive(reply("250-mx\n250 SIZE 10")) == .ready)
        #expect(machine.tls == info && !machine.capabilities.pipelining)
    }

    @Test("STARTTLS: required and not offered, or unavailable in this build: no transaction")
    func startTLSRequired() {
        var notOffered = SMTPClientStateMachine(heloName: "client.example", tlsPolicy: .required)
        _ = notOffered.connected()
        _ = notOffered.receive(reply("220 mx ESMTP"))
        let result = verdict(notOffered.receive(reply("250-mx\n250 PIPELINING")))
        #expect(result?.reason == .tlsUnavailable && result?.verdict == .unreachable)
        var noTLS = SMTPClientStateMachine(heloName: "client.example", tlsPolicy: .required, tlsAvailable: false)
        _ = noTLS.connected()
        _ = noTLS.receive(reply("220 mx ESMTP"))
        #expect(verdict(noTLS.receive(reply("250-mx\n250 STARTTLS")))?.reason == .tlsUnavailable)
        var opportunistic = SMTPClientStateMachine(heloName: "client.example", tlsPolicy: .opportunistic, tlsAvailable: false)
        _ = opportunistic.connected()
        _ = opportunistic.receive(reply("220 mx ESMTP"))
        #expect(opportunistic.receive(reply("250-mx\n250 STARTTLS")) == .ready)
    }

    @Test("A failure during the handshake is the handshake's")
    func handshakeTimeout() {
        var machine = SMTPClientStateMachine(heloName: "client.example", tlsPolicy: .opportunistic)
        _ = machine.connected()
        _ = machine.receive(reply("220 mx ESMTP"))
        _ = machine.receive(reply("250-mx\n250 STARTTLS"))
        _ = machine.receive(reply("220 go ahead"))
        let result = machine.fail(.timedOut)
        #expect(result.reason == .tlsHandshakeFailed && result.step == .ehlo && result.verdict == .unreachable)
        #expect(result.detail?.contains("TLS handshake failed: timed out") == true)
    }

    @Test("Pipelined probe: a surplus 250 before RCPT's refusal shows at RSET, and is no verdict")
    func probeSurplusReply() {
        var (machine, _) = readyMachine()
        _ = machine.startProbe(from: sender, to: recipient)
        #expect(machine.receive(reply("250 ok")) == .awaitReply)
        #expect(machine.receive(reply("250 extra")) == .awaitReply)
        let result = verdict(machine.receive(reply("550 5.1.1 no such user")))
        #expect(result?.verdict == .temporaryFailure && result?.reply == nil, "\(String(describing: result))")
        #expect(result?.detail?.contains("protocol error") == true)
    }

    @Test("A reply with no command waiting is a protocol error, never a verdict", arguments: [false, true])
    func unaskedReply(inTransaction: Bool) {
        var (machine, _) = readyMachine()
        if inTransaction {
            _ = machine.startProbe(from: sender, to: recipient)
            _ = machine.receive(reply("550 no"))  // MAIL refused: verdict, done
        }
        let result = verdict(machine.receive(reply("250 2.1.5 extra")))
        #expect(result?.verdict != .accepted && result?.reply == nil)
        #expect(result?.detail?.contains("protocol error") == true)
    }

    @Test("Probe without PIPELINING")
    func probeSequential() {
        var (machine, _) = readyMachine(ehlo: "250 mx")
        #expect(commands(machine.startProbe(from: sender, to: recipient)) == ["MAIL FROM:<app@sender.example>\r\n"])
        #expect(commands(machine.receive(reply("250 ok"))) == ["RCPT TO:<jane@example.com>\r\n"])
        #expect(verdict(machine.receive(reply("550 5.1.1 unknown")))?.verdict == .recipientRejected)
    }

    @Test("A UTF-8 address needs SMTPUTF8: parameter when offered, local 5.6.7 refusal when not")
    func smtpUTF8() throws {
        let utf8Recipient = try EmailAddress("josé@example.com")
        var (offered, _) = readyMachine()
        #expect(commands(offered.startProbe(from: sender, to: utf8Recipient)).first == "MAIL FROM:<app@sender.example> SMTPUTF8\r\n")
        var (notOffered, _) = readyMachine(ehlo: "250-mx\n250 PIPELINING")
        let result = verdict(notOffered.startProbe(from: sender, to: utf8Recipient))
        #expect(result?.verdict == .recipientRejected && result?.reply?.enhancedCode == "5.6.7")
        var (again, _) = readyMachine(ehlo: "250-mx\n250 PIPELINING")
        let senderSide = verdict(again.startProbe(from: try EmailAddress("ünï@sender.example"), to: recipient))
        #expect(senderSide?.verdict == .senderRejected && senderSide?.step == .mail)
    }

    @Test("An 8-bit body needs 8BITMIME: BODY=8BITMIME when offered, refused locally when not")
    func eightBitMIME() {
        let eightBit = MessageData(bytes: Array("\r\nGrüße\r\n".utf8), requires8BitMIME: true, messageID: "<2@x>")
        var (offered, _) = readyMachine()
        #expect(commands(offered.startTransaction(from: sender, to: recipient, data: eightBit)).first
                == "MAIL FROM:<app@sender.example> SIZE=\(eightBit.bytes.count) BODY=8BITMIME\r\n")
        var (notOffered, _) = readyMachine(ehlo: "250-mx\n250 PIPELINING")
        #expect(verdict(notOffered.startTransaction(from: sender, to: recipient, data: eightBit))?.verdict == .senderRejected)
    }

    @Test("A message over the SIZE limit is refused before MAIL")
    func sizeLimit() {
        var (machine, _) = readyMachine(ehlo: "250-mx\n250 SIZE 10")
        let result = verdict(machine.startTransaction(from: sender, to: recipient, data: data))
        #expect(result?.verdict == .senderRejected && result?.reply?.enhancedCode == "5.3.4")
    }

    @Test("AUTH PLAIN: credentials sent once, redacted in the transcript text")
    func authPlain() throws {
        let credentials = try SMTPCredentials(username: "user", password: "s3cret")
        var (machine, action) = readyMachine(ehlo: "250-mx\n250 AUTH LOGIN PLAIN", credentials: credentials)
        guard case .send(let sent) = action else { Issue.record("no AUTH"); return }
        #expect(sent.count == 1)
        #expect(sent[0].transcript == "AUTH PLAIN <redacted>")
        #expect(String(decoding: sent[0].bytes, as: UTF8.self) == "AUTH PLAIN AHVzZXIAczNjcmV0\r\n")
        #expect(machine.receive(reply("235 2.7.0 ok")) == .ready)
    }

    @Test("AUTH LOGIN: user and password in two steps, both redacted")
    func authLogin() throws {
        let credentials = try SMTPCredentials(username: "user", password: "s3cret")
        var (machine, action) = readyMachine(ehlo: "250-mx\n250 AUTH LOGIN", credentials: credentials)
        #expect(commands(action) == ["AUTH LOGIN\r\n"])
        guard case .send(let user) = machine.receive(reply("334 VXNlcm5hbWU6")) else { Issue.record("no user"); return }
        #expect(user[0].transcript == "<redacted>" && user[0].bytes == Array("dXNlcg==\r\n".utf8))
        guard case .send(let password) = machine.receive(reply("334 UGFzc3dvcmQ6")) else { Issue.record("no password"); return }
        #expect(password[0].transcript == "<redacted>")
        let failed = verdict(machine.receive(reply("535 5.7.8 bad credentials")))
        #expect(failed?.verdict == .senderRejected && failed?.step == .auth)
    }

    @Test("Failures: before the transaction unreachable, inside it temporary", arguments: [
        SMTPClientStateMachine.Failure.timedOut, .connectionClosed, .cancelled,
        .protocolError(SMTPProtocolError(.invalidCode, "garbage")),
    ])
    func failures(failure: SMTPClientStateMachine.Failure) {
        var opening = SMTPClientStateMachine(heloName: "client.example")
        _ = opening.connected()
        let early = opening.fail(failure)
        #expect(early.verdict == .unreachable && early.step == .greeting)

        for stepsBefore in 0..<4 {
            var (machine, _) = readyMachine(ehlo: "250 mx")
            _ = machine.startTransaction(from: sender, to: recipient, data: data)
            let answers = ["250 ok", "250 ok", "354 go"]
            for answer in answers.prefix(stepsBefore) { _ = machine.receive(reply(answer)) }
            let late = machine.fail(failure)
            #expect(late.verdict == .temporaryFailure)
            #expect(late.step == [SMTPStep.mail, .rcpt, .data, .endOfData][stepsBefore])
            #expect(late.detail != nil)
        }
    }

    @Test("A 3xx where a 2xx is due, or a 2xx after DATA, is not success")
    func wrongClass() {
        var (machine, _) = readyMachine(ehlo: "250 mx")
        _ = machine.startTransaction(from: sender, to: recipient, data: data)
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("250 ok"))
        #expect(verdict(machine.receive(reply("250 not 354")))?.verdict == .temporaryFailure)
        var (other, _) = readyMachine(ehlo: "250 mx")
        _ = other.startTransaction(from: sender, to: recipient, data: data)
        #expect(verdict(other.receive(reply("354 nonsense")))?.verdict == .temporaryFailure)
    }

    /// Regression: any 3xx to DATA started the message; only 354 means "send it".
    @Test("DATA: only 354 starts the message; another 3xx is a temporary failure", arguments: ["334 VXNlcm5hbWU6", "350 hm", "399 x"])
    func dataNeeds354(text: String) {
        var (machine, _) = readyMachine(ehlo: "250 mx")
        _ = machine.startTransaction(from: sender, to: recipient, data: data)
        _ = machine.receive(reply("250 ok"))
        _ = machine.receive(reply("250 ok"))
        let action = machine.receive(reply(text))
        #expect(action != .sendMessage)
        #expect(verdict(action)?.verdict == .temporaryFailure)
        #expect(verdict(action)?.step == .data)
    }
}
