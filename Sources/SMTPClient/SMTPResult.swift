/// The verdict, where it was decided, and why.
public struct SMTPResult: Sendable, Hashable, CustomStringConvertible {
    /// The verdict.
    public var verdict: SMTPVerdict
    /// The step where it was decided.
    public var step: SMTPStep
    /// The deciding reply, when a reply decided it (locally decided refusals carry a
    /// reply built here, flagged in ``detail``).
    public var reply: SMTPReply?
    /// A human detail, e.g. "timed out waiting for the RCPT reply".
    public var detail: String?

    /// A result; `reply` and `detail` are optional.
    public init(verdict: SMTPVerdict, step: SMTPStep, reply: SMTPReply? = nil, detail: String? = nil) {
        self.verdict = verdict
        self.step = step
        self.reply = reply
        self.detail = detail
    }

    public var description: String {
        var text = "\(verdict) at \(step.rawValue)"
        if let reply { text += ": \(reply)" }
        if let detail { text += " (\(detail))" }
        return text
    }
}
