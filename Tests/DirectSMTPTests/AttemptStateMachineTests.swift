import DNSClient
import SMTPClient
import Sockets
import Testing

@testable import DirectSMTP

/// The attempt's rules, driven by tables of inputs: every outcome, every budget phase,
/// the queue's hold and settle, the race's stagger and failures, probes sharing an
/// attempt. No sockets, no sleeping: each input says when it happened.
@Suite("Attempt state machine")
struct AttemptStateMachineTests {
    typealias Machine = AttemptStateMachine

    /// One row: an input at a time (ms after the start) and the actions it must give.
    struct Step: Sendable {
        var at: Int
        var input: Machine.Input
        var expected: [String]
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var mode: Machine.Mode
        var steps: [Step]
        /// Caller 0's budget, in ms.
        var budget = 500
        var testDescription: String { name }
    }

    static let mx1 = candidate("127.0.0.11", preference: 10)
    static let mx2 = candidate("127.0.0.12", preference: 20)
    static let twoHosts = Machine.Input.resolved(.ready([mx1, mx2]), dnsTook: .milliseconds(2))
    static let oneHost = Machine.Input.resolved(.ready([mx1]), dnsTook: .milliseconds(2))
    static let record = SessionRecord(transcript: [], timings: [.rcpt: .milliseconds(1)])

    static func candidate(_ ip: String, preference: Int) -> RaceCandidate {
        RaceCandidate(
            host: MailHost(name: "mx\(preference).example.com", preference: preference,
                           addresses: [IPAddress(ip)!]),
            address: try! SocketAddress(IPAddress(ip)!, port: 25))
    }

    static func result(_ verdict: SMTPVerdict, _ code: Int, at step: SMTPStep = .rcpt) -> SMTPResult {
        SMTPResult(verdict: verdict, step: step, reply: SMTPReply(code, "reply"))
    }

    static func finished(_ verdict: SMTPVerdict, _ code: Int) -> Machine.Input {
        .transactionFinished(result(verdict, code), record)
    }

    /// The steps up to a transaction on mx1, alone.
    static func transacting(at time: Int = 10) -> [Step] {
        [
            Step(at: 1, input: oneHost, expected: ["request slot"]),
            Step(at: 2, input: .slotGranted, expected: ["dial 0"]),
            Step(at: time, input: .connected(0), expected: ["healthy 127.0.0.11", "transact 0"]),
        ]
    }

    static let cases: [Case] = [
        Case(name: "send accepted (scenario 6)", mode: .send(queue: false), steps: transacting() + [
            Step(at: 20, input: finished(.accepted, 250),
                 expected: ["release slot", "answer 0 accepted", "done"]),
        ]),
        Case(name: "recipient rejected at RCPT (scenario 5)", mode: .send(queue: false), steps: transacting() + [
            Step(at: 20, input: finished(.recipientRejected, 550),
                 expected: ["release slot", "answer 0 recipient-rejected", "done"]),
        ]),
        Case(name: "sender rejected at MAIL (scenario 4)", mode: .send(queue: false), steps: transacting() + [
            Step(at: 20, input: finished(.senderRejected, 554),
                 expected: ["release slot", "answer 0 sender-rejected", "done"]),
        ]),
        Case(name: "greylisted: temporary failure", mode: .send(queue: false), steps: transacting() + [
            Step(at: 20, input: finished(.temporaryFailure, 450),
                 expected: ["release slot", "answer 0 temporary-failure", "done"]),
        ]),
        Case(name: "DNS unavailable (scenario 1)", mode: .send(queue: false), steps: [
            Step(at: 5, input: .resolved(.none(.dnsUnavailable, detail: "SERVFAIL"), dnsTook: .milliseconds(5)),
                 expected: ["answer 0 dns-unavailable", "done"]),
        ]),
        Case(name: "no mail server (scenario 3)", mode: .send(queue: false), steps: [
            Step(at: 5, input: .resolved(.none(.noMailServer, detail: "NXDOMAIN"), dnsTook: .milliseconds(5)),
                 expected: ["answer 0 no-mail-server", "done"]),
        ]),
        Case(name: "every host unreachable (scenario 2)", mode: .send(queue: false), steps: [
            Step(at: 1, input: twoHosts, expected: ["request slot"]),
            Step(at: 2, input: .slotGranted, expected: ["dial 0", "stagger"]),
            Step(at: 3, input: .connectFailed(0, result(.unreachable, 421, at: .greeting)),
                 expected: ["dial 1"]),
            Step(at: 4, input: .connectFailed(1, result(.unreachable, 421, at: .greeting)),
                 expected: ["unhealthy 127.0.0.11", "unhealthy 127.0.0.12"]),
            Step(at: 5, input: .recordCollected(0, record), expected: []),
            Step(at: 6, input: .recordCollected(1, record),
                 expected: ["release slot", "answer 0 no-reachable-host", "done"]),
        ]),
        Case(name: "every host 5xx at greeting: sender rejected", mode: .send(queue: false), steps: [
            Step(at: 1, input: twoHosts, expected: ["request slot"]),
            Step(at: 2, input: .slotGranted, expected: ["dial 0", "stagger"]),
            Step(at: 3, input: .connectFailed(0, result(.senderRejected, 554, at: .greeting)),
                 expected: ["dial 1"]),
            Step(at: 4, input: .recordCollected(0, record), expected: []),
            Step(at: 5, input: .connectFailed(1, result(.senderRejected, 550, at: .ehlo)), expected: []),
            Step(at: 6, input: .recordCollected(1, record),
                 expected: ["release slot", "answer 0 sender-rejected", "done"]),
        ]),
        Case(name: "one 5xx, one unreachable: no reachable host", mode: .send(queue: false), steps: [
            Step(at: 1, input: twoHosts, expected: ["request slot"]),
            Step(at: 2, input: .slotGranted, expected: ["dial 0", "stagger"]),
            Step(at: 3, input: .connectFailed(0, result(.senderRejected, 554, at: .greeting)),
                 expected: ["dial 1"]),
            Step(at: 4, input: .connectFailed(1, result(.unreachable, 421, at: .greeting)),
                 expected: ["unhealthy 127.0.0.12"]),
            Step(at: 5, input: .recordCollected(1, record), expected: []),
            Step(at: 6, input: .recordCollected(0, record),
                 expected: ["release slot", "answer 0 no-reachable-host", "done"]),
        ]),
        Case(name: "the stagger starts the backup; the first ready wins, the other is closed",
             mode: .send(queue: false), steps: [
            Step(at: 1, input: twoHosts, expected: ["request slot"]),
            Step(at: 2, input: .slotGranted, expected: ["dial 0", "stagger"]),
            Step(at: 252, input: .staggerElapsed(generation: 1), expected: ["dial 1"]),
            Step(at: 300, input: .connected(1),
                 expected: ["close 0", "unhealthy 127.0.0.11", "healthy 127.0.0.12", "transact 1"]),
            Step(at: 301, input: .connected(0), expected: ["close 0"]),
            Step(at: 320, input: finished(.accepted, 250),
                 expected: ["release slot", "answer 0 accepted", "done"]),
        ]),
        Case(name: "a stale stagger tick starts nothing", mode: .send(queue: false), steps: [
            Step(at: 1, input: twoHosts, expected: ["request slot"]),
            Step(at: 2, input: .slotGranted, expected: ["dial 0", "stagger"]),
            Step(at: 3, input: .connectFailed(0, result(.unreachable, 421)), expected: ["dial 1"]),
            Step(at: 252, input: .staggerElapsed(generation: 1), expected: []),
        ]),
        // The budget: the state decides the reason. (The actions come in the record's order,
        // the slot first; the driver answers at once and does the rest 20 ms later.)
        Case(name: "budget while resolving: dns-unavailable, the lookup stopped",
             mode: .send(queue: false), steps: [
            Step(at: 500, input: .budgetElapsed(caller: 0),
                 expected: ["answer 0 dns-unavailable", "cancel resolve", "done"]),
            Step(at: 501, input: oneHost, expected: []),
        ]),
        Case(name: "budget while waiting for a slot: no-reachable-host, the request withdrawn",
             mode: .send(queue: false), steps: [
            Step(at: 1, input: oneHost, expected: ["request slot"]),
            Step(at: 500, input: .budgetElapsed(caller: 0),
                 expected: ["withdraw slot", "answer 0 no-reachable-host", "done"]),
            Step(at: 501, input: .slotGranted, expected: ["release slot"]),
        ]),
        Case(name: "budget while racing: no-reachable-host, abandoned, never started later",
             mode: .send(queue: false), steps: [
            Step(at: 1, input: oneHost, expected: ["request slot"]),
            Step(at: 2, input: .slotGranted, expected: ["dial 0"]),
            Step(at: 500, input: .budgetElapsed(caller: 0),
                 expected: ["release slot", "answer 0 no-reachable-host", "close 0", "done"]),
            Step(at: 600, input: .connected(0), expected: ["close 0"]),
        ]),
        Case(name: "budget in the transaction: budget-exceeded, the slot yielded, the final published",
             mode: .send(queue: false), steps: transacting() + [
            Step(at: 500, input: .budgetElapsed(caller: 0),
                 expected: ["release slot", "answer 0 budget-exceeded"]),
            Step(at: 900, input: finished(.accepted, 250), expected: ["publish accepted", "done"]),
        ]),
        Case(name: "budget while failed hosts' records come: the race's verdict, not a budget reason",
             mode: .send(queue: true), steps: [
            Step(at: 1, input: twoHosts, expected: ["request slot"]),
            Step(at: 2, input: .slotGranted, expected: ["dial 0", "stagger"]),
            Step(at: 3, input: .connectFailed(0, result(.senderRejected, 554, at: .greeting)),
                 expected: ["dial 1"]),
            Step(at: 5, input: .connectFailed(1, result(.senderRejected, 550, at: .ehlo)), expected: []),
            Step(at: 500, input: .budgetElapsed(caller: 0),
                 expected: ["release slot", "answer 0 sender-rejected", "done"]),
            Step(at: 501, input: .recordCollected(0, record), expected: []),
        ]),
        Case(name: "budget after the transaction, while a loser's record comes: the verdict",
             mode: .send(queue: true), steps: [
            Step(at: 1, input: twoHosts, expected: ["request slot"]),
            Step(at: 2, input: .slotGranted, expected: ["dial 0", "stagger"]),
            Step(at: 3, input: .connectFailed(0, result(.unreachable, 421, at: .greeting)),
                 expected: ["dial 1"]),
            Step(at: 10, input: .connected(1),
                 expected: ["unhealthy 127.0.0.11", "healthy 127.0.0.12", "transact 1"]),
            Step(at: 20, input: finished(.accepted, 250), expected: []),
            Step(at: 500, input: .budgetElapsed(caller: 0),
                 expected: ["release slot", "answer 0 accepted", "done"]),
            Step(at: 501, input: .recordCollected(0, record), expected: []),
        ]),
        Case(name: "cancellation is a budget ending now", mode: .send(queue: false), steps: [
            Step(at: 50, input: .callerCancelled(caller: 0),
                 expected: ["answer 0 dns-unavailable", "cancel resolve", "done"]),
        ]),
        // With a queue.
        Case(name: "queue: a deferral is stored before the caller is answered",
             mode: .send(queue: true), steps: transacting() + [
            Step(at: 20, input: finished(.temporaryFailure, 451),
                 expected: ["release slot", "enqueue temporary-failure"]),
            Step(at: 25, input: .storeFinished(queued: true),
                 expected: ["answer 0 temporary-failure queued", "done"]),
        ]),
        Case(name: "queue: accepted is not stored", mode: .send(queue: true), steps: transacting() + [
            Step(at: 20, input: finished(.accepted, 250),
                 expected: ["release slot", "answer 0 accepted", "done"]),
        ]),
        Case(name: "queue: budget before the transaction stores the deferral, abandons the attempt",
             mode: .send(queue: true), steps: [
            Step(at: 1, input: oneHost, expected: ["request slot"]),
            Step(at: 2, input: .slotGranted, expected: ["dial 0"]),
            Step(at: 500, input: .budgetElapsed(caller: 0),
                 expected: ["release slot", "enqueue no-reachable-host", "close 0"]),
            Step(at: 510, input: .storeFinished(queued: true),
                 expected: ["answer 0 no-reachable-host queued", "done"]),
        ]),
        Case(name: "queue: budget mid-transaction holds the send, the final settles it",
             mode: .send(queue: true), steps: transacting() + [
            Step(at: 500, input: .budgetElapsed(caller: 0), expected: ["release slot", "hold budget-exceeded"]),
            Step(at: 510, input: .storeFinished(queued: true), expected: ["answer 0 budget-exceeded queued"]),
            Step(at: 900, input: finished(.accepted, 250), expected: ["settle accepted"]),
            Step(at: 910, input: .storeFinished(queued: false), expected: ["publish accepted", "done"]),
        ]),
        Case(name: "queue: a final that comes while the hold is stored waits for it",
             mode: .send(queue: true), steps: transacting() + [
            Step(at: 500, input: .budgetElapsed(caller: 0), expected: ["release slot", "hold budget-exceeded"]),
            Step(at: 505, input: finished(.temporaryFailure, 451), expected: []),
            Step(at: 510, input: .storeFinished(queued: true),
                 expected: ["answer 0 budget-exceeded queued", "settle temporary-failure"]),
            Step(at: 520, input: .storeFinished(queued: true),
                 expected: ["publish temporary-failure queued", "done"]),
        ]),
        Case(name: "queue: a hold that failed is not queued; a deferred final is enqueued as any",
             mode: .send(queue: true), steps: transacting() + [
            Step(at: 500, input: .budgetElapsed(caller: 0), expected: ["release slot", "hold budget-exceeded"]),
            Step(at: 510, input: .storeFinished(queued: false), expected: ["answer 0 budget-exceeded"]),
            Step(at: 900, input: finished(.temporaryFailure, 451), expected: ["enqueue temporary-failure"]),
            Step(at: 910, input: .storeFinished(queued: true),
                 expected: ["publish temporary-failure queued", "done"]),
        ]),
        // Probes.
        Case(name: "probe accepted: cached, every caller answered", mode: .probe, steps: [
            Step(at: 0, input: .callerJoined(caller: 1, start: .now, deadline: .now + .seconds(1)), expected: []),
        ] + transacting() + [
            Step(at: 20, input: finished(.accepted, 250),
                 expected: ["release slot", "cache accepted", "answer 0 accepted", "answer 1 accepted", "done"]),
        ]),
        Case(name: "probe: one caller's budget leaves the others waiting; the last one's stops the race",
             mode: .probe, steps: [
            Step(at: 0, input: .callerJoined(caller: 1, start: .now, deadline: .now + .seconds(1)), expected: []),
            Step(at: 1, input: oneHost, expected: ["request slot"]),
            Step(at: 2, input: .slotGranted, expected: ["dial 0"]),
            Step(at: 300, input: .budgetElapsed(caller: 0), expected: ["answer 0 no-reachable-host"]),
            Step(at: 900, input: .budgetElapsed(caller: 1),
                 expected: ["release slot", "answer 1 no-reachable-host", "close 0", "done"]),
        ]),
        Case(name: "probe without callers in its transaction yields its slot, then fills the cache",
             mode: .probe, steps: transacting() + [
            Step(at: 300, input: .budgetElapsed(caller: 0), expected: ["release slot", "answer 0 budget-exceeded"]),
            Step(at: 900, input: finished(.recipientRejected, 550),
                 expected: ["cache recipient-rejected", "done"]),
        ]),
        Case(name: "probe whose last caller left while it waited for a slot never connects",
             mode: .probe, steps: [
            Step(at: 1, input: oneHost, expected: ["request slot"]),
            Step(at: 300, input: .budgetElapsed(caller: 0),
                 expected: ["withdraw slot", "answer 0 no-reachable-host", "done"]),
            Step(at: 400, input: .slotGranted, expected: ["release slot"]),
        ]),
        Case(name: "a slot that comes after every caller's deadline starts nothing",
             mode: .probe, steps: [
            Step(at: 1, input: oneHost, expected: ["request slot"]),
            Step(at: 100, input: .slotGranted,
                 expected: ["release slot", "answer 0 no-reachable-host", "done"]),
            Step(at: 101, input: .budgetElapsed(caller: 0), expected: []),
        ], budget: 100),
        // Re-sends.
        Case(name: "re-send: a transaction started is waited for, whatever the budget",
             mode: .redelivery, steps: transacting() + [
            Step(at: 500, input: .budgetElapsed(caller: 0), expected: []),
            Step(at: 501, input: .callerCancelled(caller: 0), expected: []),
            Step(at: 900, input: finished(.accepted, 250),
                 expected: ["release slot", "answer 0 accepted", "done"]),
        ]),
        Case(name: "re-send: the budget before the transaction ends it", mode: .redelivery, steps: [
            Step(at: 1, input: oneHost, expected: ["request slot"]),
            Step(at: 2, input: .slotGranted, expected: ["dial 0"]),
            Step(at: 500, input: .budgetElapsed(caller: 0),
                 expected: ["release slot", "answer 0 no-reachable-host", "close 0", "done"]),
        ]),
    ]

    @Test("Inputs in, actions out", arguments: cases)
    func table(_ row: Case) {
        let start = ContinuousClock.now
        var machine = Machine(
            mode: row.mode, address: "user@example.com", stagger: .milliseconds(250), caller: 0,
            start: start, deadline: start + .milliseconds(row.budget))
        #expect(Self.describe(machine.start()) == ["resolve"])
        for step in row.steps {
            let actions = machine.handle(step.input, now: start + .milliseconds(step.at))
            #expect(Self.describe(actions) == step.expected, "at \(step.at) ms: \(step.input)")
        }
    }

    @Test("A budget outcome names the phase's host and the caller's own elapsed time")
    func budgetOutcomeDetails() throws {
        let outcome = try Self.answerWhileRacing(.budgetElapsed(caller: 0), at: 500)
        #expect(outcome.reason == .noReachableHost)
        #expect(outcome.mx?.ip == "127.0.0.12", "the last one tried")
        #expect(outcome.elapsed == .milliseconds(500))
        #expect(outcome.dnsDuration == .milliseconds(2))
        #expect(outcome.timings.isEmpty)
        #expect(outcome.detail?.hasPrefix("the budget ended") == true, "\(outcome.detail ?? "")")
    }

    @Test("A cancelled call gets the budget's reason for its phase, in words of its own")
    func cancelledOutcomeDetails() throws {
        let outcome = try Self.answerWhileRacing(.callerCancelled(caller: 0), at: 300)
        #expect(outcome.reason == .noReachableHost)
        #expect(outcome.detail?.hasPrefix("the call was cancelled") == true, "\(outcome.detail ?? "")")
        #expect(outcome.elapsed == .milliseconds(300))
    }

    /// Caller 0's answer to `input` (its budget or its cancellation) `ms` after the start,
    /// while both hosts are being dialled.
    static func answerWhileRacing(_ input: Machine.Input, at ms: Int) throws -> VerificationOutcome {
        let start = ContinuousClock.now
        var machine = Self.racingBoth(start: start)
        let actions = machine.handle(input, now: start + .milliseconds(ms))
        return try #require(actions.answer, "no answer: \(Self.describe(actions))")
    }

    @Test("The winner's outcome carries its reply, its host, its timings and the losers' notes")
    func winnerOutcome() throws {
        let start = ContinuousClock.now
        var machine = Self.racingBoth(start: start)
        _ = machine.handle(.connected(1), now: start + .milliseconds(263))
        let actions = machine.handle(
            Self.finished(.recipientRejected, 550), now: start + .milliseconds(280))
        let outcome = try #require(actions.answer)
        #expect(outcome.reason == .recipientRejected)
        #expect(outcome.reply?.code == 550)
        #expect(outcome.mx?.ip == "127.0.0.12")
        #expect(outcome.dnsDuration == .milliseconds(2))
        #expect(outcome.timings[.rcpt] == .milliseconds(1))
        #expect(outcome.elapsed == .milliseconds(280))
        #expect(outcome.transcript.map(\.text) == ["abandoned after 260 ms: another host answered first"])
    }

    @Test("Probes sharing an attempt get one outcome each, with their own elapsed time")
    func sharedProbeOutcomes() throws {
        let start = ContinuousClock.now
        var machine = Machine(
            mode: .probe, address: "user@example.com", stagger: .milliseconds(250), caller: 0,
            start: start, deadline: start + .seconds(1))
        _ = machine.start()
        for (caller, joined) in [(1, 5), (2, 7)] {
            let at = start + .milliseconds(joined)
            _ = machine.handle(.callerJoined(caller: caller, start: at, deadline: at + .seconds(1)), now: at)
        }
        _ = machine.handle(.budgetElapsed(caller: 1), now: start + .milliseconds(8))  // left early
        _ = machine.handle(Self.oneHost, now: start + .milliseconds(9))
        _ = machine.handle(.slotGranted, now: start + .milliseconds(9))
        _ = machine.handle(.connected(0), now: start + .milliseconds(10))
        let actions = machine.handle(Self.finished(.accepted, 250), now: start + .milliseconds(20))
        #expect(Self.describe(actions) == [
            "release slot", "cache accepted", "answer 0 accepted", "answer 2 accepted", "done",
        ])
        let answer = try #require(actions.answer)
        var elapsed: [Int: Duration] = [:]
        for (caller, time) in actions.alsoAnswering { elapsed[caller] = time }
        if let caller = actions.answering { elapsed[caller] = answer.elapsed }
        #expect(elapsed == [0: .milliseconds(20), 2: .milliseconds(13)])
    }

    /// A send racing both hosts: mx1 dialled at 3 ms, mx2 at the stagger (253 ms).
    static func racingBoth(start: ContinuousClock.Instant) -> Machine {
        var machine = Machine(
            mode: .send(queue: false), address: "user@example.com", stagger: .milliseconds(250),
            caller: 0, start: start, deadline: start + .seconds(1))
        _ = machine.start()
        _ = machine.handle(twoHosts, now: start + .milliseconds(2))
        _ = machine.handle(.slotGranted, now: start + .milliseconds(3))
        _ = machine.handle(.staggerElapsed(generation: 1), now: start + .milliseconds(253))
        return machine
    }

    /// The actions of one input, in the order the driver executes them.
    static func describe(_ actions: Machine.Actions) -> [String] {
        func queued(_ outcome: VerificationOutcome) -> String { outcome.queued ? " queued" : "" }
        var described: [String] = []
        switch actions.slot {
        case .request: described.append("request slot")
        case .withdraw: described.append("withdraw slot")
        case .release: described.append("release slot")
        case nil: break
        }
        if let answer = actions.answer {
            if actions.cache { described.append("cache \(answer.reason)") }
            for (caller, _) in actions.alsoAnswering {
                described.append("answer \(caller) \(answer.reason)" + queued(answer))
            }
            if let caller = actions.answering {
                described.append("answer \(caller) \(answer.reason)" + queued(answer))
            }
        }
        switch actions.handoff {
        case .enqueue(let outcome): described.append("enqueue \(outcome.reason)")
        case .hold(let outcome): described.append("hold \(outcome.reason)")
        case .settle(let outcome): described.append("settle \(outcome.reason)")
        case .publish(let outcome): described.append("publish \(outcome.reason)" + queued(outcome))
        case nil: break
        }
        switch actions.lookup {
        case .start: described.append("resolve")
        case .cancel: described.append("cancel resolve")
        case nil: break
        }
        described += actions.close.map { "close \($0)" }
        described += actions.unhealthy.map { "unhealthy \($0.ip)" }
        if let candidate = actions.healthy { described.append("healthy \(candidate.ip)") }
        if let index = actions.dial { described.append("dial \(index)") }
        if actions.stagger != nil { described.append("stagger") }
        if let index = actions.transaction { described.append("transact \(index)") }
        if actions.done { described.append("done") }
        return described
    }
}

extension AttemptStateMachine {
    /// The actions of one input, in a record of their own (as the driver gets them).
    fileprivate mutating func handle(_ input: Input, now: ContinuousClock.Instant) -> Actions {
        var actions = Actions()
        handle(input, now: now, into: &actions)
        return actions
    }
}
