import SMTPClient

/// What one ``VerificationCoordinator/send(_:budget:tls:)`` or
/// ``VerificationCoordinator/probe(_:from:budget:tls:catchAll:)`` learned: accepted, rejected for good,
/// or deferred, with the scenario number and reason (<doc:SixOutcomes>), the MX host used, the
/// deciding reply, timings and the transcript.
///
/// ```swift
/// switch outcome.status {
/// case .accepted: showCheckYourInbox()
/// case .rejected: showAddressError(outcome.reason)      // e.g. .recipientRejected
/// case .deferred: showWeWillKeepTrying()                  // queued when outcome.queued
/// }
/// ```
public struct VerificationOutcome: Sendable, Hashable {
    /// The three answers a sign-up form needs.
    public enum Status: String, Sendable, Hashable, CaseIterable {
        /// The server took the message (or, when probing, the recipient).
        case accepted
        /// A permanent refusal: do not retry.
        case rejected
        /// Inconclusive for now: retry later (the queue does, when configured).
        case deferred
    }

    /// Why the attempt ended so; decides ``status``, ``scenario`` and ``exitCode``.
    public var reason: OutcomeReason
    /// The recipient address, as it went into `RCPT TO`.
    public var address: String
    /// `true` only when a queue is configured and the message went into it.
    public var queued: Bool
    /// The host that gave the deciding reply (or the last one tried); `nil` when no host
    /// was chosen (DNS-phase outcomes).
    public var mx: MailExchangerUsed?
    /// The server reply that decided, if a reply decided.
    public var reply: SMTPReply?
    /// A human detail when no reply decided ("timed out waiting for the greeting").
    public var detail: String?
    /// From the start of the call to this outcome.
    public var elapsed: Duration
    /// How long the MX lookup took; `nil` when there was none (an address literal, an
    /// answer from the probe cache) or it had not finished.
    public var dnsDuration: Duration?
    /// The time each SMTP step of the deciding session took (connect, greeting, EHLO,
    /// MAIL, RCPT, DATA, end of data), as the session measured it.
    public var timings: [SMTPStep: Duration]
    /// The SMTP conversation(s), credentials redacted; several hosts when raced. Empty
    /// when ``fromCache``: the cache keeps no transcripts.
    public var transcript: [TranscriptEntry]
    /// `true` when a probe was answered from the probe outcome cache.
    public var fromCache: Bool
    /// The Message-ID of the message a send concerned (`nil` for a probe): what
    /// ``VerificationCoordinator/finalOutcome(for:)`` and ``DeliveryEvent`` go by.
    public var messageID: String?
    /// The TLS version and cipher of the deciding session (STARTTLS, RFC 3207); `nil` for
    /// plaintext, or when no session decided.
    public var tls: SMTPTLSInfo?
    /// What can be done about the deciding reply, when the providers' documented codes
    /// and texts say (``ReplyClassification``); `nil` when none applies or no reply decided.
    public var hint: DeliveryHint?
    /// Whether the domain accepts any local part (a catch-all), learned by a probe that
    /// asked for it; `nil` when not asked or unknown (see
    /// ``VerificationCoordinator/probe(_:from:budget:tls:catchAll:)``).
    public var catchAll: Bool?

    /// An outcome from its parts.
    public init(
        reason: OutcomeReason,
        address: String,
        queued: Bool = false,
        mx: MailExchangerUsed? = nil,
        reply: SMTPReply? = nil,
        detail: String? = nil,
        elapsed: Duration = .zero,
        dnsDuration: Duration? = nil,
        timings: [SMTPStep: Duration] = [:],
        transcript: [TranscriptEntry] = [],
        fromCache: Bool = false,
        messageID: String? = nil,
        tls: SMTPTLSInfo? = nil,
        hint: DeliveryHint? = nil,
        catchAll: Bool? = nil
    ) {
        self.reason = reason
        self.address = address
        self.queued = queued
        self.mx = mx
        self.reply = reply
        self.detail = detail
        self.elapsed = elapsed
        self.dnsDuration = dnsDuration
        self.timings = timings
        self.transcript = transcript
        self.fromCache = fromCache
        self.messageID = messageID
        self.tls = tls
        self.hint = hint
        self.catchAll = catchAll
    }

    /// Accepted, rejected or deferred.
    public var status: Status { reason.status }
    /// The scenario number, 1...6 (<doc:SixOutcomes>).
    public var scenario: Int { reason.scenario }
    /// The sysexits(3) exit code for the CLI: 0, 67, 68, 69 or 75.
    public var exitCode: Int32 { reason.exitCode }

    /// Each phase's duration in the order phases happen, named as JSON and the command
    /// print them: `dns`, then the SMTP steps (AUTH counted with EHLO, QUIT, never
    /// awaited, left out), with `tls` (STARTTLS and the handshake) after EHLO.
    package var phaseTimings: [(name: String, duration: Duration)] {
        var phases: [(name: String, duration: Duration)] = []
        if let dnsDuration { phases.append(("dns", dnsDuration)) }
        for step in SMTPStep.allCases where step != .auth && step != .quit {
            guard var duration = timings[step] else { continue }
            if step == .ehlo, let auth = timings[.auth] { duration += auth }
            phases.append((step.rawValue, duration))
            // STARTTLS and the handshake, right after the EHLO that offered it.
            if step == .ehlo, let tls { phases.append(("tls", tls.total)) }
        }
        return phases
    }
}

extension Duration {
    /// The duration in (fractional) milliseconds.
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
