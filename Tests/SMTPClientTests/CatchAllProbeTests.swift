@testable import SMTPClient
import Testing

/// The catch-all test of a probe, in the pure state machine: the random RCPT rides in the
/// recipient's pipelined group (no extra write, so no extra round trip), and its reply
/// decides `catchAll` without touching the recipient's verdict.
@Suite struct CatchAllProbeTests {
    static let sender = try! EmailAddress("app@sender.example")
    static let recipient = try! EmailAddress("jane@example.com")
    static let random = try! EmailAddress("q7x0k2m9w4r8t1z5c3v6@example.com")

    static func reply(_ text: String) -> SMTPReply {
        var parser = SMTPReplyParser()
        parser.feed(Array((text + "\r\n").utf8))
        return try! parser.next()!
    }

    /// A machine ready for a transaction, PIPELINING offered or not.
    static func ready(pipelining: Bool = true) -> SMTPClientStateMachine {
        var machine = SMTPClientStateMachine(heloName: "client.example")
        _ = machine.connected()
        _ = machine.receive(reply("220 mx ESMTP"))
        _ = machine.receive(reply(pipelining ? "250-mx\r\n250 PIPELINING" : "250 mx"))
        return machine
    }

    static func commands(_ action: SMTPClientStateMachine.Action) -> [String] {
        guard case .send(let commands) = action else { return [] }
        return commands.map { String(decoding: $0.bytes, as: UTF8.self) }
    }

    static func verdict(_ action: SMTPClientStateMachine.Action) -> SMTPResult? {
        guard case .finish(let result) = action else { return nil }
        return result
    }

    @Test("One write: MAIL, the recipient's RCPT, the random RCPT, RSET")
    func oneGroup() {
        var machine = Self.ready()
        let action = machine.startProbe(from: Self.sender, to: Self.recipient, catchAllProbe: Self.random)
        #expect(Self.commands(action) == [
            "MAIL FROM:<app@sender.example>\r\n", "RCPT TO:<jane@example.com>\r\n",
            "RCPT TO:<q7x0k2m9w4r8t1z5c3v6@example.com>\r\n", "RSET\r\n",
        ])
    }

    @Test(
        "The random RCPT's reply decides catchAll; the recipient's verdict stands",
        arguments: [
            ("250 2.1.5 ok", true as Bool?),
            ("550 5.1.1 no such user", false),
            ("553 5.1.3 bad mailbox", false),
            ("450 4.2.0 greylisted", nil),
            ("550 5.7.1 too many unknown recipients", nil),
        ])
    func randomReply(text: String, catchAll: Bool?) {
        var machine = Self.ready()
        _ = machine.startProbe(from: Self.sender, to: Self.recipient, catchAllProbe: Self.random)
        #expect(machine.receive(Self.reply("250 2.1.0 ok")) == .awaitReply)
        #expect(machine.receive(Self.reply("250 2.1.5 jane ok")) == .awaitReply)
        #expect(machine.awaitsAuxiliaryReply)  // not timed or kept as RCPT's
        #expect(machine.receive(Self.reply(text)) == .awaitReply)
        let result = Self.verdict(machine.receive(Self.reply("250 2.0.0 reset")))
        #expect(result?.verdict == .accepted && result?.reply?.text == "jane ok")
        #expect(result?.catchAll == catchAll)
    }

    @Test("A recipient refused as unknown: not a catch-all, without waiting for the random reply")
    func recipientRefused() {
        var machine = Self.ready()
        _ = machine.startProbe(from: Self.sender, to: Self.recipient, catchAllProbe: Self.random)
        _ = machine.receive(Self.reply("250 2.1.0 ok"))
        let result = Self.verdict(machine.receive(Self.reply("550 5.1.1 no such user")))
        #expect(result?.verdict == .recipientRejected && result?.catchAll == false)
        #expect(machine.unansweredSteps == [.rcpt, .rcpt])
        var policy = Self.ready()
        _ = policy.startProbe(from: Self.sender, to: Self.recipient, catchAllProbe: Self.random)
        _ = policy.receive(Self.reply("250 2.1.0 ok"))
        #expect(Self.verdict(policy.receive(Self.reply("550 5.7.1 go away")))?.catchAll == nil)
    }

    @Test("A shifted reply still shows at RSET: no verdict")
    func surplusReply() {
        var machine = Self.ready()
        _ = machine.startProbe(from: Self.sender, to: Self.recipient, catchAllProbe: Self.random)
        _ = machine.receive(Self.reply("250 extra"))
        _ = machine.receive(Self.reply("250 2.1.0 ok"))
        _ = machine.receive(Self.reply("550 5.1.1 jane unknown"))
        let result = Self.verdict(machine.receive(Self.reply("550 5.1.1 random unknown")))
        #expect(result?.verdict == .temporaryFailure && result?.reason == .protocolError)
    }

    @Test("Without PIPELINING no random RCPT is sent (it would cost a round trip): unknown")
    func sequential() {
        var machine = Self.ready(pipelining: false)
        _ = machine.startProbe(from: Self.sender, to: Self.recipient, catchAllProbe: Self.random)
        #expect(Self.commands(machine.receive(Self.reply("250 ok"))) == ["RCPT TO:<jane@example.com>\r\n"])
        let result = Self.verdict(machine.receive(Self.reply("250 2.1.5 ok")))
        #expect(result?.verdict == .accepted && result?.catchAll == nil)
    }

    @Test("Not asked: the usual group and no catchAll")
    func notAsked() {
        var machine = Self.ready()
        #expect(Self.commands(machine.startProbe(from: Self.sender, to: Self.recipient)).count == 3)
        _ = machine.receive(Self.reply("250 ok"))
        _ = machine.receive(Self.reply("550 5.1.1 unknown"))
        #expect(machine.result?.catchAll == nil)
    }
}
