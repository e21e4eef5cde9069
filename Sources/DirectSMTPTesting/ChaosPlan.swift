import DNSClient
import DirectSMTP
import SMTPClient

/// One session of a chaos soak: a send or a probe, over plaintext or STARTTLS, and the one
/// fault the servers inject into it, at one step. Drawn from a seed, so a soak is
/// repeatable.
///
/// ```swift
/// var random = ChaosRandom(seed: 42)
/// let plan = ChaosPlan.draw(using: &random)
/// let script = plan.script(stepTimeout: .milliseconds(200))   // for MockSMTPServer
/// if let behavior = plan.dnsBehavior { dns.setBehavior(behavior, for: domain, type: .mx) }
/// let outcome = await coordinator.send(message, budget: budget, tls: plan.tls)
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
        /// The TLS handshake after the 220 to STARTTLS (sessions with ``ChaosPlan/tls``).
        case tls
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
        /// The reply comes only after the step's timeout (at ``Step/tls``: a handshake
        /// that never finishes).
        case delayPastTimeout = "delay"
        /// The connection closes instead of the reply (at ``Step/tls``: right after the
        /// 220 to STARTTLS).
        case close
        /// The connection is aborted instead of the reply: RST, not FIN (`SO_LINGER` 0).
        case reset = "rst"
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
        /// Bytes that are not TLS in answer to the ClientHello, then a close: a failed
        /// handshake (only at ``Step/tls``).
        case tlsFailure = "tls-fail"
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
    /// The call's TLS policy when the server offers STARTTLS, `nil` for a plaintext
    /// server (the call then passes no policy).
    public var tls: TLSPolicy?

    /// A plan with every field given.
    public init(mode: Mode, step: Step, fault: Fault, tls: TLSPolicy? = nil) {
        self.mode = mode
        self.step = step
        self.fault = fault
        self.tls = tls
    }

    /// `send: 5xx at rcpt`, `probe over TLS (required): tls-fail at tls`.
    public var description: String {
        let over = tls.map { " over TLS (\($0.rawValue))" } ?? ""
        return fault == .none
            ? "\(mode.rawValue)\(over): no fault" : "\(mode.rawValue)\(over): \(fault.rawValue) at \(step.rawValue)"
    }

    private static let smtpFaults: [Fault] = [
        .delayPastTimeout, .close, .reset, .closeMidReply, .garbage, .transient, .permanent, .surplus,
    ]
    /// What can go wrong in a handshake: it fails, never finishes, or never starts.
    private static let tlsFaults: [Fault] = [.tlsFailure, .delayPastTimeout, .close]

    /// Whether this build's mock server can speak TLS (the `OpenSSL` trait).
    public static var tlsAvailable: Bool { SMTPSession.tlsAvailable }

    /// Draws a plan: one in five sessions has no fault, one in ten a DNS fault, the rest
    /// one SMTP fault at a step the mode reaches (a probe ends after RCPT). One session in
    /// four (with ``tlsAvailable``) runs over STARTTLS, required or opportunistic, and
    /// its handshake is one more step a fault may strike.
    public static func draw(using random: inout some RandomNumberGenerator) -> ChaosPlan {
        let mode: Mode = Bool.random(using: &random) ? .send : .probe
        let roll = Int.random(in: 0..<10, using: &random)
        let overTLS = Int.random(in: 0..<4, using: &random) == 0
        let tls: TLSPolicy? =
            tlsAvailable && overTLS ? (Bool.random(using: &random) ? .required : .opportunistic) : nil
        switch roll {
        case 0, 1:
            return ChaosPlan(mode: mode, step: .greeting, fault: .none, tls: tls)
        case 2:
            return ChaosPlan(
                mode: mode, step: .dns,
                fault: Bool.random(using: &random) ? .dnsTimeout : .dnsServfail, tls: tls)
        default:
            var steps: [Step] = [.greeting, .ehlo]
            if tls != nil { steps.append(.tls) }
            steps += mode == .send ? [.mail, .rcpt, .data, .endOfData] : [.mail, .rcpt]
            let step = steps.randomElement(using: &random)!
            let fault = (step == .tls ? tlsFaults : smtpFaults).randomElement(using: &random)!
            return ChaosPlan(mode: mode, step: step, fault: fault, tls: tls)
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
        script.offersStartTLS = tls != nil
        guard dnsBehavior == nil, fault != .none else { return script }
        switch step {
        case .dns: break
        case .tls:
            switch fault {
            case .delayPastTimeout: script.tlsHandshake = .neverFinish
            case .close: script.tlsHandshake = .closeAfterReply
            default: script.tlsHandshake = .fail
            }
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
        case .none, .dnsTimeout, .dnsServfail, .tlsFailure:
            return reply
        case .delayPastTimeout:
            return reply.delayed(by: stepTimeout + .milliseconds(100))
        case .close:
            return .close
        case .reset:
            return .reset
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
    /// project's reply table): a timeout, a close, a reset, garbage or a 4xx defers; a 5xx
    /// rejects; a `250` after the final dot delivers whatever follows it. A broken
    /// handshake defers a call that requires TLS; an opportunistic one goes on in
    /// plaintext on a new connection (RFC 7435 §4) and is accepted.
    public var expectedStatuses: Set<VerificationOutcome.Status> {
        if step == .tls, fault != .none {
            return tls == .required ? [.deferred] : [.accepted]
        }
        switch fault {
        case .none: return [.accepted]
        case .dnsTimeout, .dnsServfail, .delayPastTimeout, .close, .reset, .closeMidReply, .garbage, .transient,
            .tlsFailure:
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
