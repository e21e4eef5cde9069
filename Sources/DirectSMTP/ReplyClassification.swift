import SMTPClient

/// A reply read the way DESIGN.md's outcome table and the providers' postmaster pages
/// read it: the outcome ``reason``, a machine-readable ``hint`` and a ``detail`` sentence.
///
/// The reply code's first digit always decides temporary or permanent, even when the
/// enhanced code says otherwise (Gmail documents `421 5.7.32`); such a mismatch is kept in
/// ``detail``. Authentication rejections are `sender-rejected` (the fault is ours, not the
/// recipient's) and their detail says to run `directsmtp doctor`. A demand for TLS on a
/// plaintext session is never terminal: `temporary-failure`.
///
/// Pure: the coordinator calls it with the deciding reply.
///
/// ```swift
/// let verdict = ReplyClassification(SMTPReply(550, "5.7.26 unauthenticated"), at: .endOfData)
/// // verdict.reason == .senderRejected, verdict.hint == .authentication
/// ```
public struct ReplyClassification: Sendable, Hashable {
    /// The outcome's reason (its status follows from it).
    public var reason: OutcomeReason
    /// What can be done about it, when the reply says.
    public var hint: DeliveryHint?
    /// A sentence to add to the outcome's explanation, or `nil`.
    public var detail: String?

    /// Accepted, rejected or deferred.
    public var status: VerificationOutcome.Status { reason.status }

    /// Classifies `reply`, received at `step`; `overTLS` says whether the session had
    /// done STARTTLS (a TLS demand then is final).
    public init(_ reply: SMTPReply, at step: SMTPStep, overTLS: Bool = false) {
        let enhanced = Self.enhancedCode(reply)
        let hint = Self.hint(reply, enhanced: enhanced)
        let first = reply.code / 100
        var notes: [String] = []
        if let enhanced, enhanced.class != first {
            notes.append(
                "the enhanced code \(enhanced.text) disagrees with the reply code \(reply.code); the reply code decides (\(first == 4 ? "temporary" : "permanent"))"
            )
        }
        switch first {
        case 2, 3:
            reason = .accepted
        case 4:
            reason = (step == .connect || step == .greeting || step == .ehlo || step == .helo)
                ? .noReachableHost : .temporaryFailure
        default:
            if hint == .tlsRequired, !overTLS {
                reason = .temporaryFailure
                notes.append("the server demands TLS, which this plaintext session did not have")
            } else if hint == .authentication || enhanced?.subject == 7 {
                reason = .senderRejected
            } else {
                switch step {
                case .rcpt: reason = .recipientRejected
                case .data, .endOfData:
                    reason = enhanced?.subject == 1 ? .recipientRejected : .senderRejected
                default: reason = .senderRejected
                }
            }
        }
        switch hint {
        case .authentication:
            notes.append(
                "the receiver found neither SPF nor DKIM passing for the sender: run `directsmtp doctor --from <sender>` and fix what it reports"
            )
        case .reverseDNS:
            notes.append("the sending address needs a PTR record that resolves back to it")
        case .rateLimited:
            notes.append("the receiver limits this sender's rate; retry later, slower")
        case .blocklisted:
            notes.append("the sending address is on a block list; ask for delisting")
        case .mailboxBusy:
            notes.append("the mailbox exists but receives too fast; retry later")
        case .tlsRequired, nil:
            break
        }
        self.hint = hint
        self.detail = notes.isEmpty ? nil : notes.joined(separator: "; ")
    }

    /// An enhanced status code as written (class may differ from the reply code's).
    struct EnhancedCode: Hashable {
        var `class`: Int
        var subject: Int
        var detail: Int
        var text: String { "\(`class`).\(subject).\(detail)" }
    }

    /// The RFC 3463 code at the start of the first line, whatever its class digit.
    static func enhancedCode(_ reply: SMTPReply) -> EnhancedCode? {
        // The first word of the first line, read in place (no array of lines).
        let word = reply.joinedText.prefix { $0 != " " && $0 != "\n" }
        let parts = word.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let c = Int(parts[0]), let s = Int(parts[1]), let d = Int(parts[2]),
            [2, 4, 5].contains(c), parts[1].count <= 3, parts[2].count <= 3
        else { return nil }
        return EnhancedCode(class: c, subject: s, detail: d)
    }

    /// The providers' documented replies (Gmail, Microsoft, Yahoo/AOL postmaster pages).
    static func hint(_ reply: SMTPReply, enhanced: EnhancedCode?) -> DeliveryHint? {
        guard reply.code >= 400 else { return nil }
        let text = reply.joinedText.lowercased().replacing("\n", with: " ")
        func mentions(_ words: String...) -> Bool { words.contains { text.contains($0) } }
        let subject = enhanced?.subject
        let detail = enhanced?.detail ?? -1
        if reply.code == 450, enhanced?.text == "4.2.1" { return .mailboxBusy }
        if subject == 7 {
            switch detail {
            case 26, 27, 30, 40, 515: return .authentication
            case 9 where reply.code == 554: return .authentication
            case 23, 25: return .reverseDNS
            case 29: return .tlsRequired
            case 10 where reply.code != 523: return .tlsRequired  // 523 5.7.10: our pipelining
            case 28: return .rateLimited
            case 606...649: return .blocklisted
            case 500...699: return .rateLimited
            default: break
            }
        }
        if reply.code == 530 || mentions("starttls", "tls required", "must issue a starttls") {
            return reply.code == 523 ? nil : .tlsRequired
        }
        if mentions("(s3150)", "(s3140)", "block list", "blocklist", "blacklist", "spamhaus") {
            return .blocklisted
        }
        if mentions("rp-001", "rp-002", "rp-003", "[tss04]", "(s3114)") { return .rateLimited }
        if mentions("reverse dns", "reverse-dns", "ptr record", "rdns", "reverse lookup") {
            return .reverseDNS
        }
        return nil
    }
}

extension VerificationOutcome {
    /// Reads the reply that decided `result` (at whichever step: greeting, MAIL, RCPT,
    /// DATA or after the final dot) with ``ReplyClassification``: sets ``hint`` and adds
    /// the classification's sentence to ``detail``. A refusal the session put on the
    /// recipient becomes `sender-rejected` when the classification finds the fault is ours
    /// (an authentication or policy code, e.g. `550 4.7.26` whose class disagrees).
    ///
    /// Otherwise the session's verdict keeps the last word, on temporary or permanent and
    /// on what a TLS demand means (it knows whether the session was encrypted): a
    /// classification never turns a deferral into a rejection or the other way round.
    mutating func classifyReply(of result: SMTPResult) {
        // A success has nothing to act on: no work (and no allocation) on the usual path.
        guard let reply = result.reply, reply.code >= 400 else { return }
        // The session already found a TLS demand on a plaintext session and said so.
        let plaintextDemand = result.reason == .tlsRequired
        let classification = ReplyClassification(reply, at: result.step, overTLS: !plaintextDemand)
        hint = classification.hint
        if reason == .recipientRejected, classification.reason == .senderRejected {
            reason = .senderRejected
        }
        if !plaintextDemand, let sentence = classification.detail {
            detail = detail.map { "\($0); \(sentence)" } ?? sentence
        }
    }
}
