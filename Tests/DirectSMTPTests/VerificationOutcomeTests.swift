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
            timings: [
                .rcpt: .microseconds(300), .dns: .microseconds(1_200), .connect: .microseconds(449),
            ])
        #expect(
            outcome.json == """
                {"outcome":"rejected","scenario":5,"reason":"recipient-rejected","address":"user@example.com",\
                "queued":false,"mx":{"host":"mx1.example.com","ip":"192.0.2.1","preference":10},\
                "reply":{"code":550,"enhanced":"5.1.1","text":"no such user"},"elapsedMs":12.5,\
                "timings":{"dns":1.2,"connect":0.4,"rcpt":0.3}}
                """)
    }

    @Test("JSON of a DNS-phase outcome: mx and reply are null")
    func nullJSON() {
        let outcome = VerificationOutcome(
            reason: .dnsUnavailable, address: "a@b.example", queued: true,
            elapsed: .milliseconds(3001))
        #expect(
            outcome.json == """
                {"outcome":"deferred","scenario":1,"reason":"dns-unavailable","address":"a@b.example","queued":true,\
                "mx":null,"reply":null,"elapsedMs":3001.0,"timings":{}}
                """)
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
            transcript: [TranscriptLine(server: "192.0.2.1:25", direction: .server, text: "220 hi")]
        )
    }

    @Test("A copy changed in any field leaves the original as it was (copy on write)")
    func copiesAreIndependent() {
        let original = sample()
        var changes: [(inout VerificationOutcome) -> Void] = [
            { $0.address = "other@example.com" }, { $0.mx = nil }, { $0.reply = nil },
            { $0.detail = "changed" }, { $0.timings[.dns] = .milliseconds(2) },
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

    @Test("Equal outcomes hash alike, however their transcript is stored")
    func equalityAndHashing() {
        let lines = [
            TranscriptLine(server: "192.0.2.1:25", direction: .client, text: "EHLO a"),
            TranscriptLine(server: "192.0.2.1:25", direction: .server, text: "250 b"),
        ]
        let asLines = VerificationOutcome(reason: .accepted, address: "a@b.c", transcript: lines)
        var lazy = VerificationOutcome(reason: .accepted, address: "a@b.c")
        lazy.recorded = Transcript(
            server: "192.0.2.1:25",
            entries: [
                .init(direction: .sent, text: "EHLO a", elapsed: .zero),
                .init(direction: .received, text: "250 b", elapsed: .zero),
            ])
        #expect(asLines == lazy)
        #expect(Set([asLines, lazy]).count == 1)
        #expect(lazy.transcript == lines)
    }

    @Test("Fields changed in place (timings, mx) change only that copy")
    func inPlaceChanges() {
        let original = sample()
        var copy = original
        copy.timings[.dns] = .milliseconds(3)
        copy.mx?.preference = 20
        copy.address.append("x")
        #expect(copy.timings[.dns] == .milliseconds(3))
        #expect(copy.mx?.preference == 20)
        #expect(copy.address == "user@example.comx")
        #expect(original == sample())
    }

    @Test("Printing an outcome shows its public fields, not its storage")
    func mirror() {
        var text = ""
        dump(sample(), to: &text)
        for needle in ["user@example.com", "mx.example.com", "queued", "220 hi", "reason"] {
            #expect(text.contains(needle), "missing \(needle) in \(text)")
        }
        #expect(!text.contains("Parts"))
    }

    @Test("Timing phases order as declared, and each hashes apart from the others")
    func timingPhaseOrder() {
        #expect(TimingPhase.allCases.sorted() == TimingPhase.allCases)
        #expect(Set(TimingPhase.allCases).count == TimingPhase.allCases.count)
        var timings: [TimingPhase: Int] = [:]
        for (index, phase) in TimingPhase.allCases.enumerated() { timings[phase] = index }
        for (index, phase) in TimingPhase.allCases.enumerated() {
            #expect(timings[phase] == index)
        }
    }
}

/// Timings kept as the session recorded them, converted when read.
@Suite("Recorded timings")
struct TimingsTests {
    @Test("A session's steps read as phases: AUTH counts with EHLO, QUIT nowhere, DNS added")
    func conversion() {
        var timings = Timings(steps: [
            .connect: .milliseconds(1), .greeting: .milliseconds(2), .ehlo: .milliseconds(3),
            .auth: .milliseconds(4), .rcpt: .milliseconds(5), .quit: .milliseconds(6),
        ])
        timings.set(.milliseconds(7), for: .dns)
        let expected: [TimingPhase: Duration] = [
            .dns: .milliseconds(7), .connect: .milliseconds(1), .greeting: .milliseconds(2),
            .ehlo: .milliseconds(7), .rcpt: .milliseconds(5),
        ]
        #expect(timings.all == expected)
        #expect(timings == Timings(expected))
        #expect(timings.hashValue == Timings(expected).hashValue)
        #expect(Timings(steps: [:]).all.isEmpty)
        #expect(Timings(steps: [.quit: .milliseconds(1)]).all.isEmpty)
    }

    @Test("An outcome's timings read, set and change in place like a dictionary")
    func outcomeAccess() {
        var outcome = VerificationOutcome(
            reason: .accepted, address: "a@b.example",
            recordedTimings: Timings(steps: [.connect: .milliseconds(1)]), recorded: Transcript())
        let copy = outcome
        #expect(outcome.timings == [.connect: .milliseconds(1)])
        outcome.timings[.dns] = .milliseconds(2)
        #expect(outcome.timings == [.connect: .milliseconds(1), .dns: .milliseconds(2)])
        #expect(copy.timings == [.connect: .milliseconds(1)])
        outcome.timings = [:]
        #expect(outcome.timings.isEmpty)
    }
}
