import DirectSMTP
import Foundation
import Logging

/// What a sign-up (or a resend) ended in, for the page.
public enum SignupResult: Sendable, Hashable {
    /// Not an address we can send to; refused before any network traffic.
    case badAddress(email: String, problem: AddressProblem)
    /// The receiving server took the code.
    case sent(PendingSignup, SendReport)
    /// Unknown for now: the code is queued and retried until the period ends.
    case queued(PendingSignup, SendReport)
    /// Refused for good: nothing will be sent; the sign-up is not kept.
    case refused(email: String, SendReport)
    /// Too many pending sign-ups for this address lately: nothing was sent (the form must
    /// not let anyone flood an inbox).
    case tooMany(email: String)
    /// The database failed; nothing was promised.
    case unavailable
}

/// What entering a code ended in.
public enum VerifyResult: Sendable, Hashable {
    /// The right code, within the period: the sign-up is complete.
    case verified(email: String)
    /// A wrong code; `triesLeft` more may be entered.
    case wrongCode(PendingSignup, triesLeft: Int)
    /// Every try of this code is used up: only a new code (resend) helps.
    case noTriesLeft(PendingSignup)
    /// The sign-up is already complete; its code cannot be used again.
    case alreadyVerified(email: String)
    /// No such pending sign-up: never made, purged after the period, or given up.
    case unknown
    /// The database failed.
    case unavailable
}

/// What asking for the code again ended in.
public enum ResendResult: Sendable, Hashable {
    /// A new code went out (or was queued, or refused): as for a sign-up.
    case resent(SignupResult)
    /// Too soon after the last code; `wait` until the next may be asked.
    case tooSoon(PendingSignup, wait: Duration)
    /// The most codes one sign-up may get have been sent.
    case limitReached(PendingSignup)
    /// Already complete.
    case alreadyVerified(email: String)
    /// No such pending sign-up.
    case unknown
    /// The database failed.
    case unavailable
}

/// The sign-up flow: pending sign-ups in the store, codes sent by the mailer, purges.
public struct SignupFlow: Sendable {
    /// Rules of the flow.
    public struct Rules: Sendable {
        /// Tries of one code.
        public var triesPerCode = 5
        /// Codes one sign-up may be sent in all (the first included).
        public var maxSends = 5
        /// The least time between two codes for one sign-up.
        public var resendInterval: Duration = .seconds(60)
        /// Pending sign-ups one address may have within `signupWindow`.
        public var signupsPerAddress = 3
        /// The window of `signupsPerAddress`.
        public var signupWindow: Duration = .seconds(3600)
        /// Creates the default rules.
        public init() {}
    }

    let store: any SignupStore
    let mailer: VerificationMailer
    let clock: any QueueClock
    let rules: Rules
    let observer: MailObserver

    /// The period within which a sign-up must be verified: the queue's maximum age.
    var period: Duration { mailer.settings.maxAge }

    /// Creates the flow over its parts.
    public init(
        store: any SignupStore, mailer: VerificationMailer, clock: any QueueClock, rules: Rules,
        observer: MailObserver
    ) {
        self.store = store
        self.mailer = mailer
        self.clock = clock
        self.rules = rules
        self.observer = observer
    }

    /// Validates the address, stores a pending sign-up and sends its code.
    public func signUp(email text: String) async -> SignupResult {
        let email: String
        switch mailer.validate(text) {
        case .failure(let problem): return .badAddress(email: text, problem: problem)
        case .success(let valid): email = valid
        }
        let code = CodeHasher.makeCode()
        let salt = CodeHasher.makeSalt()
        let now = clock.now
        let signup = PendingSignup(
            id: UUID().uuidString.lowercased(), email: email, codeSalt: salt,
            codeHash: CodeHasher.hash(code: code, salt: salt), createdAt: now, lastSentAt: now,
            sends: 1, failedTries: 0, messageID: mailer.makeMessageID(), verifiedAt: nil)
        do {
            let since = now.addingTimeInterval(-rules.signupWindow.seconds)
            if try await store.pendingCount(email: email, since: since) >= rules.signupsPerAddress {
                return .tooMany(email: email)
            }
            // Stored before sending: a queue event about the message always finds it.
            try await store.insert(signup)
        } catch {
            observer.storeFailed(error)
            return .unavailable
        }
        return await send(code: code, for: signup)
    }

    /// Checks a code entered for sign-up `id`.
    public func verify(id: String, code: String) async -> VerifyResult {
        do {
            guard var signup = try await store.signup(id: id) else { return .unknown }
            if signup.isVerified { return .alreadyVerified(email: signup.email) }
            if isExpired(signup) {
                try await store.removePending(id: id)
                observer.purged(signup, reason: "expired")
                return .unknown
            }
            guard let tries = try await store.takeTry(id: id, limit: rules.triesPerCode) else {
                return .noTriesLeft(signup)
            }
            let entered = code.filter { !$0.isWhitespace }
            if CodeHasher.matches(code: entered, salt: signup.codeSalt, hash: signup.codeHash),
                try await store.markVerified(id: id, at: clock.now)
            {
                observer.verified(signup)
                return .verified(email: signup.email)
            }
            signup.failedTries = tries
            let left = rules.triesPerCode - tries
            return left > 0 ? .wrongCode(signup, triesLeft: left) : .noTriesLeft(signup)
        } catch {
            observer.storeFailed(error)
            return .unavailable
        }
    }

    /// Sends a new code for a pending sign-up, within the rate limits.
    public func resend(id: String) async -> ResendResult {
        do {
            guard var signup = try await store.signup(id: id) else { return .unknown }
            if signup.isVerified { return .alreadyVerified(email: signup.email) }
            if isExpired(signup) { return .unknown }
            if signup.sends >= rules.maxSends { return .limitReached(signup) }
            let next = signup.lastSentAt.addingTimeInterval(rules.resendInterval.seconds)
            let now = clock.now
            if next > now {
                return .tooSoon(signup, wait: .seconds((next.timeIntervalSince(now)).rounded(.up)))
            }
            let code = CodeHasher.makeCode()
            signup.codeSalt = CodeHasher.makeSalt()
            signup.codeHash = CodeHasher.hash(code: code, salt: signup.codeSalt)
            signup.messageID = mailer.makeMessageID()
            signup.lastSentAt = now
            signup.sends += 1
            signup.failedTries = 0
            try await store.replaceCode(
                id: id, salt: signup.codeSalt, hash: signup.codeHash, messageID: signup.messageID,
                sentAt: now)
            return .resent(await send(code: code, for: signup))
        } catch {
            observer.storeFailed(error)
            return .unavailable
        }
    }

    /// Applies a queue event: a message given up removes its pending sign-up at once.
    public func handle(_ event: MailerEvent) async {
        guard case .gaveUp(let messageID, let reason) = event else { return }
        do {
            if let signup = try await store.removePending(messageID: messageID) {
                observer.purged(signup, reason: reason)
            }
        } catch {
            observer.storeFailed(error)
        }
    }

    /// Removes the pending sign-ups older than the period; returns how many.
    @discardableResult
    public func purgeExpired() async -> Int {
        do {
            let cutoff = clock.now.addingTimeInterval(-period.seconds)
            let removed = try await store.removePending(createdBefore: cutoff)
            for signup in removed { observer.purged(signup, reason: "expired") }
            return removed.count
        } catch {
            observer.storeFailed(error)
            return 0
        }
    }

    private func isExpired(_ signup: PendingSignup) -> Bool {
        signup.createdAt.addingTimeInterval(period.seconds) <= clock.now
    }

    private func send(code: String, for signup: PendingSignup) async -> SignupResult {
        let report = await mailer.send(
            to: signup.email, subject: "Your sign-up code",
            text: Pages.emailText(code: code, period: period), messageID: signup.messageID)
        observer.sent(report, signupID: signup.id, messageID: signup.messageID)
        switch report.verdict {
        case .accepted:
            return .sent(signup, report)
        case .inconclusive:
            return .queued(signup, report)
        case .terminal:
            // Nothing will ever be sent: the sign-up cannot be completed, so it is not kept.
            do { try await store.removePending(id: signup.id) } catch { observer.storeFailed(error) }
            return .refused(email: signup.email, report)
        }
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
