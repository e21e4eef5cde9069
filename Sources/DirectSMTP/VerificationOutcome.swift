/// What one ``VerificationCoordinator/send(_:budget:)`` or
/// ``VerificationCoordinator/probe(_:from:budget:)`` learned: accepted, rejected for good,
/// or deferred, with the scenario number and reason of DESIGN.md, the MX host used, the
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
    public var reply: DecidingReply?
    /// A human detail when no reply decided ("timed out waiting for the greeting").
    public var detail: String?
    /// From the start of the call to this outcome.
    public var elapsed: Duration
    /// Per-phase durations (DNS, connect, greeting, EHLO, MAIL, RCPT, DATA, end of data)
    /// of the phases that ran.
    public var timings: [TimingPhase: Duration]
    /// The SMTP conversation(s), credentials redacted; several hosts when raced. Empty
    /// when ``fromCache``: the cache keeps no transcripts.
    public var transcript: [TranscriptLine] {
        get { recorded.all }
        set { recorded = Transcript(newValue) }
    }
    /// The transcript as stored: the session's part is converted to lines when read.
    var recorded: Transcript
    /// `true` when a probe was answered from the probe outcome cache.
    public var fromCache: Bool

    /// An outcome from its parts.
    public init(
        reason: OutcomeReason,
        address: String,
        queued: Bool = false,
        mx: MailExchangerUsed? = nil,
        reply: DecidingReply? = nil,
        detail: String? = nil,
        elapsed: Duration = .zero,
        timings: [TimingPhase: Duration] = [:],
        transcript: [TranscriptLine] = [],
        fromCache: Bool = false
    ) {
        self.reason = reason
        self.address = address
        self.queued = queued
        self.mx = mx
        self.reply = reply
        self.detail = detail
        self.elapsed = elapsed
        self.timings = timings
        self.recorded = Transcript(transcript)
        self.fromCache = fromCache
    }

    /// An outcome with its transcript as recorded (converted when read).
    init(
        reason: OutcomeReason,
        address: String,
        mx: MailExchangerUsed? = nil,
        reply: DecidingReply? = nil,
        detail: String? = nil,
        timings: [TimingPhase: Duration] = [:],
        recorded: Transcript
    ) {
        self.init(
            reason: reason, address: address, mx: mx, reply: reply, detail: detail,
            timings: timings)
        self.recorded = recorded
    }

    /// Accepted, rejected or deferred.
    public var status: Status { reason.status }
    /// DESIGN.md's scenario number, 1...6.
    public var scenario: Int { reason.scenario }
    /// The sysexits(3) exit code for the CLI: 0, 67, 68, 69 or 75.
    public var exitCode: Int32 { reason.exitCode }
}

extension Duration {
    /// The duration in (fractional) milliseconds.
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
