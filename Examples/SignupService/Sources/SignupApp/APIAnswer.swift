import Hummingbird

/// The JSON answer of the `/api/` routes: a status word, the sign-up id, the library's
/// reason, and the sentence the HTML page would show.
struct APIAnswer: ResponseEncodable {
    /// `sent`, `queued`, `refused`, `bad-address`, `verified`, `wrong-code`,
    /// `no-tries-left`, `already-verified`, `too-soon`, `limit-reached`, `unknown`,
    /// `unavailable`.
    var status: String
    var id: String?
    var reason: String?
    var message: String
    var triesLeft: Int?
    var retryAfterSeconds: Int?

    init(_ result: SignupResult, period: Duration) {
        switch result {
        case .badAddress(let email, let problem):
            self.init(status: "bad-address", message: "“\(email)” is not an email address we can send to: \(problem.explanation).")
        case .sent(let signup, let report):
            self.init(
                status: "sent", id: signup.id, reason: report.reason,
                message: "We sent you a code. Enter it within \(Pages.hours(period)).")
        case .queued(let signup, let report):
            self.init(
                status: "queued", id: signup.id, reason: report.reason,
                message: Pages.inconclusiveWhy(report.reason, domain: Pages.domain(signup.email))
                    + " We could not verify the address, but if it is a live address the code will arrive in due course.")
        case .refused(let email, let report):
            self.init(
                status: "refused", reason: report.reason,
                message: Pages.terminalWhy(report.reason, email: email) + " Nothing will be sent.")
        case .tooMany:
            self.init(status: "too-many", message: "Codes were sent to this address several times lately; nothing was sent.")
        case .unavailable:
            self.init(status: "unavailable", message: "Something went wrong on our side; nothing was sent.")
        }
    }

    init(_ result: VerifyResult) {
        switch result {
        case .verified: self.init(status: "verified", message: "Your sign-up is complete.")
        case .wrongCode(let signup, let left):
            self.init(status: "wrong-code", id: signup.id, message: "That is not the code we sent.", triesLeft: left)
        case .noTriesLeft(let signup):
            self.init(status: "no-tries-left", id: signup.id, message: "Too many wrong codes; ask for a new one.", triesLeft: 0)
        case .alreadyVerified:
            self.init(status: "already-verified", message: "Already verified; a code works only once.")
        case .unknown:
            self.init(status: "unknown", message: "No pending sign-up: sign up again.")
        case .unavailable:
            self.init(status: "unavailable", message: "Something went wrong on our side.")
        }
    }

    init(_ result: ResendResult, period: Duration) {
        switch result {
        case .resent(let signup): self.init(signup, period: period)
        case .tooSoon(let signup, let wait):
            self.init(
                status: "too-soon", id: signup.id, message: "A code was sent a moment ago.",
                retryAfterSeconds: Int(wait.seconds))
        case .limitReached(let signup):
            self.init(status: "limit-reached", id: signup.id, message: "No more codes will be sent for this sign-up.")
        case .alreadyVerified(let email): self.init(.alreadyVerified(email: email))
        case .unknown: self.init(.unknown)
        case .unavailable: self.init(.unavailable)
        }
    }

    private init(
        status: String, id: String? = nil, reason: String? = nil, message: String,
        triesLeft: Int? = nil, retryAfterSeconds: Int? = nil
    ) {
        self.status = status
        self.id = id
        self.reason = reason
        self.message = message
        self.triesLeft = triesLeft
        self.retryAfterSeconds = retryAfterSeconds
    }
}
