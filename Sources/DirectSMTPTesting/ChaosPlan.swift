import DNSClient
import DirectSMTP

/// One session of a chaos soak: a send or a probe, and the one fault the servers inject
/// into it, at one step. Drawn from a seed, so a soak is repeatable.
///
/// ```swift
/// var random = ChaosRandom(seed: 42)
/// let plan = ChaosPlan.draw(using: &random)
/// let script = plan.script(stepTimeout: .milliseconds(200))   // for MockSMTPServer
/// if let behavior = plan.dnsBehavior { dns.setBehavior(behavior, for: domain, type: .mx) }
/// ```
public struct ChaosPlan: Sendable, Hashable, CustomStringConvertible {
    /// What the session calls.
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// Sessions call `send`.
        case send
        /// Sessions call `probe`.
        case probe
    }

    /// Where the fault strikes: the MX lookup or one SMTP reply.
    public enum Step: String, Sendable, Hashable, CaseIterable {
        /// The MX lookup.
        case dns
        /// The server's greeting.
        case greeting
        /// The reply to EHLO.
        case ehlo
        /// The reply to MAIL FROM.
        case mail
        /// The reply to RCPT TO.
        case rcpt
        /// The reply to DATA.
        case data
        /// The reply to the final dot.
        case endOfData = "end-of-data"
    }

    /// What goes wrong.
    public enum Fault: String, Sendable, Hashable, CaseIterable {
        /// Nothing: a friendly server.
        case none
        /// The reply comes only after the step's timeout.
        case delayPastTimeout = "delay"
        /// The connection closes instead of the reply.
        case close
        /// Half the reply, then the connection closes.
        case closeMidReply = "close-mid-reply"
        /// Bytes that are no reply.
        case garbage
        /// A 4xx reply (421 at the greeting).
        case transient = "4xx"
        /// A 5xx reply.
        case permanent = "5xx"
        /// The reply, then a `250` nobody asked for.
        case surplus
        /// The DNS server never answers the MX query.
        case dnsTimeout = "dns-timeout"
        /// The DNS server answers the MX query with SERVFAIL.
        case dnsServfail = "dns-servfail"
    }

    /// Send or probe.
    public var mode: Mode
    /// Where the fault strikes (`.greeting` for ``Fault/none``).
    public var step: Step
    /// The fault.
    public var fault: Fault

    /// A plan with every field given.
    public init(mode: Mode, step: Step, fault: Fault) {
        self.mode = mode
        self.step = step
        self.fault = fault
    }

    /// `send: 5xx at rcpt`.
    public var description: String {
        fault == .none ? "\(mode.rawValue): no fault" : "\(mode.rawValue): \(fault.rawValue) at \(step.rawValue)"
    }

    private static let smtpFaults: [Fault] = [
        .delayPastTimeout, .close, .closeMidReply, .garbage, .transient, .permanent, .surplus,
    ]

    /// Draws a plan: one in five sessions has no fault, one in ten a DNS fault, the rest
    /// one SMTP fault at a step the mode reaches (a probe ends after RCPT).
    public static func draw(using random: inout some RandomNumberGenerator) -> ChaosPlan {
        let mode: Mode = Bool.random(using: &random) ? .send : .probe
        let roll = Int.random(in: 0..<10, using: &random)
        switch roll {
        case 0, 1:
            return ChaosPlan(mode: mode, step: .greeting, fault: .none)
        case 2:
            return ChaosPlan(
                mode: mode, step: .dns,
                fault: Bool.random(using: &random) ? .dnsTimeout : .dnsServfail)
        default:
            let steps: [Step] =
                mode == .send
                ? [.greeting, .ehlo, .mail, .rcpt, .data, .endOfData] : [.greeting, .ehlo, .mail, .rcpt]
            return ChaosPlan(
                mode: mode, step: steps.randomElement(using: &random)!,
                fault: smtpFaults.randomElement(using: &random)!)
        }
    }

    /// The MX lookup's misbehaviour, or `nil` when the fault is not a DNS one.
    public var dnsBehavior: MockDNSBehavior? {
        switch fault {
        case .dnsTimeout: .silence
        case .dnsServfail: .servfail
        default: nil
        }
    }

    /// The mock SMTP server's script: a friendly server but for the faulty step.
    /// - Parameter stepTimeout: the client's timeout per step; a delayed reply comes
    ///   100 ms after it.
    public func script(stepTimeout: Duration) -> MockSMTPScript {
        var script = MockSMTPScript()
        script.recordsReads = false
        script.idleTimeout = .seconds(5)
        guard dnsBehavior == nil, fault != .none else { return script }
        switch step {
        case .dns: break
        case .greeting: script.greeting = faulty(script.greeting, stepTimeout: stepTimeout)
        case .ehlo: script.ehlo = faulty(script.ehloResponse(heloName: "chaos"), stepTimeout: stepTimeout)
        case .mail: script.mail = faulty(script.mail, stepTimeout: stepTimeout)
        case .rcpt: script.rcpt = faulty(script.rcpt, stepTimeout: stepTimeout)
        case .data: script.data = faulty(script.data, stepTimeout: stepTimeout)
        case .endOfData: script.endOfData = faulty(script.endOfData, stepTimeout: stepTimeout)
        }
        return script
    }

    private func faulty(_ reply: MockSMTPResponse, stepTimeout: Duration) -> MockSMTPResponse {
        switch fault {
        case .none, .dnsTimeout, .dnsServfail:
            return reply
        case .delayPastTimeout:
            return reply.delayed(by: stepTimeout + .milliseconds(100))
        case .close:
            return .close
        case .closeMidReply:
            return MockSMTPResponse(code: reply.code, lines: reply.lines, behavior: .closeMidReply)
        case .garbage:
            return .garbage("\u{1}\u{7F}chaos: no reply at all\r\n")
        case .transient:
            return step == .greeting ? .reply(421, "4.3.2 chaos: try later") : .reply(451, "4.3.0 chaos: try later")
        case .permanent:
            return step == .rcpt ? .reply(550, "5.1.1 chaos: no such user") : .reply(554, "5.3.0 chaos: refused")
        case .surplus:
            return reply.followed(by: "250 2.0.0 chaos: surplus\r\n")
        }
    }

    /// The statuses the standards allow for this plan (RFC 5321 §4.2, §3.8; see the
    /// project's reply table): a timeout, a close, garbage or a 4xx defers; a 5xx rejects;
    /// a `250` after the final dot delivers whatever follows it.
    public var expectedStatuses: Set<VerificationOutcome.Status> {
        switch fault {
        case .none: return [.accepted]
        case .dnsTimeout, .dnsServfail, .delayPastTimeout, .close, .closeMidReply, .garbage, .transient:
            return [.deferred]
        case .permanent: return [.rejected]
        case .surplus:
            // A 250 to the final dot delivered the message, whatever follows. Anywhere else
            // an unasked reply means replies and commands may no longer match (was that
            // 250 RCPT's, or MAIL's surplus?): a protocol error, deferred.
            return step == .endOfData ? [.accepted] : [.deferred]
        }
    }
}

/// SplitMix64: a small, fast, seedable generator, so a soak's faults repeat exactly.
public struct ChaosRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
