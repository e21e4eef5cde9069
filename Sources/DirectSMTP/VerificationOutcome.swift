import SMTPClient

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
    public var address: String {
        get { parts.address }
        set { uniqueParts().address = newValue }
        _modify {
            let box = uniqueParts()
            yield &box.address
        }
    }
    /// `true` only when a queue is configured and the message went into it.
    public var queued: Bool
    /// The host that gave the deciding reply (or the last one tried); `nil` when no host
    /// was chosen (DNS-phase outcomes).
    public var mx: MailExchangerUsed? {
        get { parts.mx }
        set { uniqueParts().mx = newValue }
        _modify {
            let box = uniqueParts()
            yield &box.mx
        }
    }
    /// The server reply that decided, if a reply decided.
    public var reply: SMTPReply? {
        get { parts.reply }
        set { uniqueParts().reply = newValue }
        _modify {
            let box = uniqueParts()
            yield &box.reply
        }
    }
    /// A human detail when no reply decided ("timed out waiting for the greeting").
    public var detail: String? {
        get { parts.detail }
        set { uniqueParts().detail = newValue }
        _modify {
            let box = uniqueParts()
            yield &box.detail
        }
    }
    /// From the start of the call to this outcome.
    public var elapsed: Duration
    /// Per-phase durations (DNS, connect, greeting, EHLO, MAIL, RCPT, DATA, end of data)
    /// of the phases that ran.
    public var timings: [TimingPhase: Duration] {
        get { parts.timings.all }
        set { uniqueParts().timings = Timings(newValue) }
        _modify {
            let box = uniqueParts()
            var all = box.timings.all
            defer { box.timings = Timings(all) }
            yield &all
        }
    }
    /// The timings as stored: the session's part is converted when read.
    var recordedTimings: Timings {
        get { parts.timings }
        set { uniqueParts().timings = newValue }
    }
    /// The SMTP conversation(s), credentials redacted; several hosts when raced. Empty
    /// when ``fromCache``: the cache keeps no transcripts.
    public var transcript: [TranscriptLine] {
        get { parts.recorded.all }
        set { uniqueParts().recorded = Transcript(newValue) }
    }
    /// The transcript as stored: the session's part is converted to lines when read.
    var recorded: Transcript {
        get { parts.recorded }
        set { uniqueParts().recorded = newValue }
    }
    /// `true` when a probe was answered from the probe outcome cache.
    public var fromCache: Bool
    /// The Message-ID of the message a send concerned (`nil` for a probe): what
    /// ``VerificationCoordinator/finalOutcome(for:)`` and ``DeliveryEvent`` go by.
    public var messageID: String?

    /// The fields that hold references, in one box that copies of the outcome share until
    /// one of them changes (copy on write): an outcome is handed from the attempt to the
    /// caller through several layers, and a copy is then one reference count instead of
    /// one per string, array and dictionary.
    private var parts: Parts

    private mutating func uniqueParts() -> Parts {
        if !isKnownUniquelyReferenced(&parts) { parts = parts.copy() }
        return parts
    }

    /// An outcome from its parts.
    public init(
        reason: OutcomeReason,
        address: String,
        queued: Bool = false,
        mx: MailExchangerUsed? = nil,
        reply: SMTPReply? = nil,
        detail: String? = nil,
        elapsed: Duration = .zero,
        timings: [TimingPhase: Duration] = [:],
        transcript: [TranscriptLine] = [],
        fromCache: Bool = false
    ) {
        self.init(
            reason: reason, address: address, queued: queued, mx: mx, reply: reply,
            detail: detail, elapsed: elapsed, recordedTimings: Timings(timings),
            recorded: Transcript(transcript), fromCache: fromCache)
    }

    /// An outcome with its timings and transcript as recorded (converted when read).
    init(
        reason: OutcomeReason,
        address: String,
        queued: Bool = false,
        mx: MailExchangerUsed? = nil,
        reply: SMTPReply? = nil,
        detail: String? = nil,
        elapsed: Duration = .zero,
        recordedTimings timings: Timings,
        recorded: Transcript,
        fromCache: Bool = false
    ) {
        self.reason = reason
        self.queued = queued
        self.elapsed = elapsed
        self.fromCache = fromCache
        self.messageID = nil
        self.parts = Parts(
            address: address, mx: mx, reply: reply, detail: detail, timings: timings,
            recorded: recorded)
    }

    /// Accepted, rejected or deferred.
    public var status: Status { reason.status }
    /// DESIGN.md's scenario number, 1...6.
    public var scenario: Int { reason.scenario }
    /// The sysexits(3) exit code for the CLI: 0, 67, 68, 69 or 75.
    public var exitCode: Int32 { reason.exitCode }
}

extension VerificationOutcome: CustomReflectable {
    /// The public fields, as `print`, `dump` and test failure messages show them (not the
    /// storage box).
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "reason": reason, "address": address, "queued": queued, "mx": mx as Any,
                "reply": reply as Any, "detail": detail as Any, "elapsed": elapsed,
                "timings": timings, "transcript": transcript, "fromCache": fromCache,
                "messageID": messageID as Any,
            ])
    }
}

extension VerificationOutcome {
    public static func == (left: VerificationOutcome, right: VerificationOutcome) -> Bool {
        left.reason == right.reason && left.queued == right.queued
            && left.elapsed == right.elapsed && left.fromCache == right.fromCache
            && left.messageID == right.messageID
            && (left.parts === right.parts || left.parts.equals(right.parts))
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(reason)
        hasher.combine(queued)
        hasher.combine(elapsed)
        hasher.combine(fromCache)
        hasher.combine(messageID)
        parts.hash(into: &hasher)
    }

    /// The box of ``VerificationOutcome/parts``.
    ///
    /// `@unchecked Sendable` is safe because a `Parts` is never changed while shared: the
    /// outcome changes one only through `uniqueParts()`, which first copies it unless
    /// `isKnownUniquelyReferenced` says this outcome holds the only reference. A box that
    /// two outcomes (or two threads) can see is therefore never written again, and a box
    /// that is written is reachable from one outcome only, owned by one thread at a time
    /// like any value.
    fileprivate final class Parts: @unchecked Sendable {
        var address: String
        var mx: MailExchangerUsed?
        var reply: SMTPReply?
        var detail: String?
        var timings: Timings
        var recorded: Transcript

        init(
            address: String, mx: MailExchangerUsed?, reply: SMTPReply?, detail: String?,
            timings: Timings, recorded: Transcript
        ) {
            self.address = address
            self.mx = mx
            self.reply = reply
            self.detail = detail
            self.timings = timings
            self.recorded = recorded
        }

        func copy() -> Parts {
            Parts(
                address: address, mx: mx, reply: reply, detail: detail, timings: timings,
                recorded: recorded)
        }

        func equals(_ other: Parts) -> Bool {
            address == other.address && mx == other.mx && reply == other.reply
                && detail == other.detail && timings == other.timings
                && recorded == other.recorded
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(address)
            hasher.combine(mx)
            hasher.combine(reply)
            hasher.combine(detail)
            hasher.combine(timings)
            hasher.combine(recorded)
        }
    }
}

extension Duration {
    /// The duration in (fractional) milliseconds.
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
