/// Why an attempt ended as it did: the `reason` of the six outcomes (<doc:SixOutcomes>).
///
/// The raw values are a contract (JSON, scripts, tests); the scenario number, the
/// ``VerificationOutcome/Status`` and the CLI exit code all follow from the reason.
public enum OutcomeReason: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Scenario 1: DNS did not answer (timeout, SERVFAIL): the domain's existence is unknown.
    case dnsUnavailable = "dns-unavailable"
    /// Scenario 2: MX hosts are known, but none completed connect + greeting + EHLO.
    case noReachableHost = "no-reachable-host"
    /// Scenario 3: DNS answered that the domain has no mail server (NXDOMAIN, null MX, ...).
    case noMailServer = "no-mail-server"
    /// Scenario 4: the server refused us (5xx at greeting/EHLO/MAIL, 5.7.x policy).
    case senderRejected = "sender-rejected"
    /// Scenario 5: the server denied the recipient (5xx at RCPT other than 5.7.x).
    case recipientRejected = "recipient-rejected"
    /// Scenario 6: accepted (send: 250 after the final dot; probe: 2xx at RCPT).
    case accepted = "accepted"
    /// Scenario 2 family: a 4xx at MAIL/RCPT/DATA (greylisting) or a dropped transaction.
    case temporaryFailure = "temporary-failure"
    /// Scenario 2 family: the caller's budget ended inside the SMTP transaction.
    case budgetExceeded = "budget-exceeded"

    /// The scenario number (1...6); the inconclusive family counts as 2.
    public var scenario: Int {
        switch self {
        case .dnsUnavailable: 1
        case .noReachableHost, .temporaryFailure, .budgetExceeded: 2
        case .noMailServer: 3
        case .senderRejected: 4
        case .recipientRejected: 5
        case .accepted: 6
        }
    }

    /// Accepted, rejected for good, or deferred (try again later).
    public var status: VerificationOutcome.Status {
        switch self {
        case .accepted: .accepted
        case .noMailServer, .senderRejected, .recipientRejected: .rejected
        case .dnsUnavailable, .noReachableHost, .temporaryFailure, .budgetExceeded: .deferred
        }
    }

    /// The sysexits(3) code the `directsmtp` command exits with for this reason:
    /// 0 accepted, 67 recipient rejected (EX_NOUSER), 68 no mail server (EX_NOHOST),
    /// 69 sender rejected (EX_UNAVAILABLE), 75 deferred (EX_TEMPFAIL).
    public var exitCode: Int32 {
        switch self {
        case .accepted: 0
        case .recipientRejected: 67
        case .noMailServer: 68
        case .senderRejected: 69
        case .dnsUnavailable, .noReachableHost, .temporaryFailure, .budgetExceeded: 75
        }
    }

    /// The raw value, e.g. `recipient-rejected`.
    public var description: String { rawValue }
}
