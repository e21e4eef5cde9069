import SMTPClient
import SMTPClient
import Testing

@testable import DirectSMTP

@Suite("Outcome model")
struct VerificationOutcomeTests {
    @Test(
        "Every reason maps to DESIGN.md's outcome, scenario and exit code",
        arguments: [
            (OutcomeReason.dnsUnavailable, "deferred", 1, Int32(75)),
            (.noReachableHost, "deferred", 2, 75),
            (.noMailServer, "rejected", 3, 68),
            (.senderRejected, "rejected", 4, 69),
            (.recipientRejected, "rejected", 5, 67),
            (.accepted, "accepted", 6, 0),
            (.temporaryFailure, "deferred", 2, 75),
            (.budgetExceeded, "deferred", 2, 75),
        ])
    func mapping(reason: OutcomeReason, status: String, scenario: Int, exit: Int32) {
        let outcome = VerificationOutcome(reason: reason, address: "a@example.com")
        #expect(outcome.status.rawValue == status)
        #expect(outcome.scenario == scenario)
        #expect(outcome.exitCode == exit)
    }

    @Test("Reason strings are the contract's")
    func reasonStrings() {
        #expect(
            OutcomeReason.allCases.map(\.rawValue) == [
                "dns-unavailable", "no-reachable-host", "no-mail-server", "sender-rejected",
                "recipient-rejected", "accepted", "temporary-failure", "budget-exceeded",
            ])
    }

    @Test("JSON has DESIGN.md's fields in order, with mx and reply")
    func fullJSON() {
        let outcome = VerificationOutcome(
            reason: .recipientRejected, address: "user@example.com",
            mx: MailExchangerUsed(host: "mx1.example.com", ip: "192.0.2.1", preference: 10),
            reply: SMTPReply(550, "5.1.1 no such user"),
            elapsed: .microseconds(12_540),
            dnsDuration: .microseconds(1_200),
            timings: [.rcpt: .microseconds(300), .connect: .microseconds(449)])
        #expect(
            outcome.json == """
                {"outcome":"rejected","scenario":5,"reason":"recipient-rejected","address":"user@example.com",\
                "queued":false,"mx":{"host":"mx1.example.com","ip":"192.0.2.1","preference":10},\
                "reply":{"code":550,"enhanced":"5.1.1","text":"no such user"},"elapsedMs":12.5,\
                "timings":{"dns":1.2,"connect":0.4,"rcpt":0.3},"tls":null,"hint":null,"catchAll":null}
                """)
    }

    @Test("JSON ends with hint and catchAll when known")
    func hintAndCatchAllJSON() {
        let outcome = VerificationOutcome(
            reason: .senderRejected, address: "user@example.com",
            reply: SMTPReply(550, "5.7.26 unauthenticated"), hint: .authentication, catchAll: true)
        #expect(outcome.json.hasSuffix(#""timings":{},"tls":null,"hint":"authentication","catchAll":true}"#))
        var rateLimited = outcome
        rateLimited.hint = .reverseDNS
        rateLimited.catchAll = false
        #expect(rateLimited.json.hasSuffix(#","hint":"reverse-dns","catchAll":false}"#))
    }

    @Test("JSON of a DNS-phase outcome: mx and reply are null")
    func nullJSON() {
        let outcome = VerificationOutcome(
            reason: .dnsUnavailable, address: "a@b.example", queued: true,
            elapsed: .milliseconds(3001))
        #expect(
            outcome.json == """
                {"outcome":"deferred","scenario":1,"reason":"dns-unavailable","address":"a@b.example","queued":true,\
                "mx":null,"reply":null,"elapsedMs":3001.0,"timings":{},"tls":null,"hint":null,"catchAll":null}
                """)
    }

    @Test("JSON of a session over TLS: its version and cipher, and the tls phase after EHLO")
    func tlsJSON() {
        let tls = SMTPTLSInfo(
            version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384", serverName: "mx.example.com",
            startTLSReply: .microseconds(400), handshake: .microseconds(1_600))
        let outcome = VerificationOutcome(
            reason: .accepted, address: "a@b.example",
            timings: [.ehlo: .milliseconds(1), .mail: .milliseconds(1)], tls: tls)
        #expect(
            outcome.json.hasSuffix(
                #""timings":{"ehlo":1.0,"tls":2.0,"mail":1.0},"tls":{"version":"TLSv1.3","cipher":"TLS_AES_256_GCM_SHA384"},"hint":null,"catchAll":null}"#
            ))
    }

    @Test(
        "JSON strings escape quotes, backslashes, newlines and control bytes; no enhanced code is null"
    )
    func escaping() {
        // A reply's text holds no control bytes (the parser replaces them): the address
        // carries one here.
        let outcome = VerificationOutcome(
            reason: .senderRejected, address: "\"a b\u{01}\"@example.com",
            reply: SMTPReply(code: 554, lines: ["line one", "says \\no\\"]))
        #expect(outcome.json.contains(#""address":"\"a b\u0001\"@example.com""#))
        #expect(
            outcome.json.contains(
                #""reply":{"code":554,"enhanced":null,"text":"line one\nsays \\no\\"}"#))
    }
}

@Suite("Outcome values")
struct VerificationOutcomeValueTests {
    private func sample() -> VerificationOutcome {
        VerificationOutcome(
            reason: .accepted, address: "user@example.com",
            mx: MailExchangerUsed(host: "mx.example.com", ip: "192.0.2.1", preference: 10),
            reply: SMTPReply(250, "2.0.0 queued"),
            timings: [.connect: .milliseconds(1)],
            transcript: [TranscriptEntry(server: "192.0.2.1:25", direction: .received, text: "220 hi")]
        )
    }

    @Test("A copy changed in any field leaves the original as it was")
    func copiesAreIndependent() {
        let original = sample()
        var changes: [(inout VerificationOutcome) -> Void] = [
            { $0.address = "other@example.com" }, { $0.mx = nil }, { $0.reply = nil },
            { $0.detail = "changed" }, { $0.timings[.mail] = .milliseconds(2) },
            { $0.dnsDuration = .milliseconds(2) }, { $0.messageID = "<x@y>" },
            { $0.transcript = [] }, { $0.reason = .recipientRejected }, { $0.queued = true },
            { $0.elapsed = .seconds(1) }, { $0.fromCache = true },
        ]
        for change in changes.indices {
            var copy = original
            changes[change](&copy)
            #expect(copy != original, "change \(change) did not show")
            #expect(original == sample(), "change \(change) leaked into the original")
        }
        changes.removeAll()
    }

    @Test("Equal outcomes hash alike")
    func equalityAndHashing() {
        let lines = [
            TranscriptEntry(server: "192.0.2.1:25", direction: .sent, text: "EHLO a"),
            TranscriptEntry(server: "192.0.2.1:25", direction: .received, text: "250 b"),
        ]
        let one = VerificationOutcome(reason: .accepted, address: "a@b.c", transcript: lines)
        let other = VerificationOutcome(reason: .accepted, address: "a@b.c", transcript: lines)
        #expect(one == other)
        #expect(Set([one, other]).count == 1)
        #expect(lines.map(\.description) == ["[192.0.2.1:25] C: EHLO a", "[192.0.2.1:25] S: 250 b"])
    }

    @Test("Fields changed in place (timings, mx) change only that copy")
    func inPlaceChanges() {
        let original = sample()
        var copy = original
        copy.timings[.rcpt] = .milliseconds(3)
        copy.mx?.preference = 20
        copy.address.append("x")
        #expect(copy.timings[.rcpt] == .milliseconds(3))
        #expect(copy.mx?.preference == 20)
        #expect(copy.address == "user@example.comx")
        #expect(original == sample())
    }

    @Test("SMTP steps order as they happen, and each hashes apart from the others")
    func stepOrder() {
        #expect(SMTPStep.allCases.sorted() == SMTPStep.allCases)
        #expect(Set(SMTPStep.allCases).count == SMTPStep.allCases.count)
        var timings: [SMTPStep: Int] = [:]
        for (index, step) in SMTPStep.allCases.enumerated() { timings[step] = index }
        for (index, step) in SMTPStep.allCases.enumerated() {
            #expect(timings[step] == index)
        }
    }
}

/// The timings as JSON and the command print them.
@Suite("Reported timings")
struct TimingsTests {
    @Test("DNS first, then the steps in order: AUTH counts with EHLO, QUIT nowhere")
    func phases() {
        let outcome = VerificationOutcome(
            reason: .accepted, address: "a@b.example", dnsDuration: .milliseconds(7),
            timings: [
                .rcpt: .milliseconds(5), .connect: .milliseconds(1), .greeting: .milliseconds(2),
                .ehlo: .milliseconds(3), .auth: .milliseconds(4), .quit: .milliseconds(6),
            ])
        #expect(outcome.phaseTimings.map(\.name) == ["dns", "connect", "greeting", "ehlo", "rcpt"])
        #expect(outcome.phaseTimings.map(\.duration)[3] == .milliseconds(7))
        #expect(outcome.json.hasSuffix(#""timings":{"dns":7.0,"connect":1.0,"greeting":2.0,"ehlo":7.0,"rcpt":5.0},"tls":null,"hint":null,"catchAll":null}"#))
        #expect(VerificationOutcome(reason: .accepted, address: "a@b.example").phaseTimings.isEmpty)
    }
}
