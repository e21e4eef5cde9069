// The one file of the example that sends with DirectSMTP. Everything else sees the types
// declared here (`MailerSettings`, `SendReport`, `MailerEvent`); besides, the flow uses
// the library's `QueueClock` (one clock for the queue and the sign-ups), and the logging
// and metrics adapters are `DeliveryObserver`s.

import DKIM
import DirectSMTP
import Foundation

/// What the mailer needs to know, read from the environment by ``AppConfiguration``.
public struct MailerSettings: Sendable {
    /// The name given in EHLO: this machine's public host name.
    public var heloName: String
    /// The sender of the verification emails.
    public var sender: String
    /// DNS servers as `IP` or `IP:PORT`; empty means `/etc/resolv.conf`.
    public var nameservers: [String] = []
    /// The SMTP port of the recipients' MX hosts: 25, except against mock servers.
    public var smtpPort: Int = 25
    /// The queue journal: deferred messages live there until delivered or given up.
    public var journalPath: String
    /// How long a deferred message is retried, and so how long a sign-up stays pending.
    public var maxAge: Duration = .seconds(24 * 3600)
    /// The first retry of a deferred message (then twice the wait each time, at most 1 h).
    public var firstRetry: Duration = .seconds(300)
    /// The time a sign-up form waits for the receiving server's answer.
    public var budget: Duration = .seconds(2)
    /// `false` lets it connect to private, loopback or link-local addresses: only against
    /// loopback mocks. `nil` keeps the library's default, which refuses them (addresses
    /// typed into a public form must not reach inside the network).
    public var refusesNonPublicAddresses: Bool?
    /// Step timeouts in seconds for the interactive send; `nil` keeps the library's.
    public var stepTimeout: Duration?
    /// A DKIM private key (PEM, RSA or Ed25519) to sign every message with, and its
    /// selector; `nil` sends unsigned.
    public var dkim: (keyPath: String, selector: String)?
    /// The DKIM signing domain; `nil` means the sender's.
    public var dkimDomain: String?

    /// Settings with the defaults above.
    public init(heloName: String, sender: String, journalPath: String) {
        self.heloName = heloName
        self.sender = sender
        self.journalPath = journalPath
    }
}

/// What one send learned, in the example's own words.
public struct SendReport: Sendable, Hashable {
    /// The three answers a sign-up page gives.
    public enum Verdict: String, Sendable, Hashable {
        /// The receiving server took the message.
        case accepted
        /// Unknown for now: the message is queued and retried.
        case inconclusive
        /// Refused for good: nothing will ever be sent.
        case terminal
    }

    public var verdict: Verdict
    /// The library's reason, e.g. `recipient-rejected`.
    public var reason: String
    /// The scenario number 1...6.
    public var scenario: Int
    /// The MX host that decided, when one did.
    public var mxHost: String?
    /// How long the send took.
    public var elapsed: Duration
    /// Whether the message went into the queue.
    public var queued: Bool
}

/// What happens to a queued message afterwards.
public enum MailerEvent: Sendable, Hashable {
    /// Stored in the queue for retries.
    case queued(messageID: String, reason: String)
    /// A retry (or a send that outlived its budget) was delivered.
    case delivered(messageID: String)
    /// Deferred again; retried at `next`.
    case retryScheduled(messageID: String, reason: String, next: Date)
    /// Given up: rejected on a retry, or older than the maximum age (`expired`).
    case gaveUp(messageID: String, reason: String)
    /// The queue's store failed; the message says what (never a message body).
    case storeFailed(message: String)
}

/// Why an address was refused before any network traffic.
public struct AddressProblem: Error, Sendable, Hashable {
    /// A sentence for a person.
    public var explanation: String
}

/// Sends the verification emails: DirectSMTP's `VerificationCoordinator`, whose queue
/// (over a journal file) stores the deferred messages and retries them.
public final class VerificationMailer: Sendable {
    /// The settings it runs with.
    public let settings: MailerSettings
    /// Queue happenings, for the sign-ups and the logs. One consumer.
    public let events: AsyncStream<MailerEvent>

    private let coordinator: VerificationCoordinator
    private let queue: DeliveryQueue
    /// The journal, when the mailer opened it (and so closes it).
    private let journal: FileJournalQueueStore?
    private let sender: EmailAddress
    private let sink: AsyncStream<MailerEvent>.Continuation

    /// Builds the coordinator over `queueStore`, or else over the journal at
    /// `settings.journalPath` (waiting for another process that holds it), which it then
    /// closes after ``run()``; nothing is sent until asked, nothing retried until
    /// ``run()``. The queue runs on `clock` (the sign-ups' clock: tests move it);
    /// `observer` sees every attempt and queue event (the logs and metrics).
    public init(
        settings: MailerSettings, queueStore: (any QueueStore)? = nil,
        clock: any QueueClock = SystemQueueClock(), observer: (any DeliveryObserver)? = nil
    ) async throws {
        self.settings = settings
        sender = try EmailAddress(settings.sender)
        var configuration = VerificationCoordinator.Configuration(
            heloName: settings.heloName,
            nameservers: try settings.nameservers.map {
                try SocketAddress(parsing: $0, defaultPort: 53)
            },
            smtpPort: settings.smtpPort, defaultBudget: settings.budget)
        if let refuses = settings.refusesNonPublicAddresses {
            configuration.refusesNonPublicAddresses = refuses
        }
        if let step = settings.stepTimeout { configuration.timeouts = .uniform(step) }
        if let dkim = settings.dkim {
            // Read and checked here, at start-up: a bad key stops the service, not a send.
            configuration.dkimSigners = [
                try DKIMSigner(
                    key: try DKIMPrivateKey(contentsOf: dkim.keyPath), selector: dkim.selector,
                    domain: settings.dkimDomain)
            ]
        }
        let journal: FileJournalQueueStore? =
            queueStore == nil ? try await FileJournalQueueStore.open(path: settings.journalPath) : nil
        configuration.queueStore = queueStore ?? journal
        configuration.retrySchedule = RetrySchedule(
            firstRetry: settings.firstRetry, maxAge: settings.maxAge)
        configuration.queueClock = clock
        configuration.observer = observer
        let coordinator: VerificationCoordinator
        do {
            coordinator = try VerificationCoordinator(configuration: configuration)
        } catch {
            await journal?.close()
            throw error
        }
        self.journal = journal
        self.coordinator = coordinator
        // Always there: the configuration has a store.
        queue = coordinator.queue!
        (events, sink) = AsyncStream.makeStream(of: MailerEvent.self)
    }

    /// Checks an address's form (and refuses CR/LF and the like) without any network
    /// traffic; returns it in the form that will be used.
    public func validate(_ text: String) -> Result<String, AddressProblem> {
        do {
            return .success(try EmailAddress(text.trimmingCharacters(in: .whitespaces)).description)
        } catch {
            return .failure(AddressProblem(explanation: error.message))
        }
    }

    /// A fresh Message-ID (with angle brackets), by which queue events name the message.
    public func makeMessageID() -> String {
        "<signup-\(UUID().uuidString.lowercased())@\(settings.heloName)>"
    }

    /// Sends one message within the budget and says what happened. A deferred message is
    /// stored in the queue before this returns.
    public func send(to address: String, subject: String, text: String, messageID: String) async
        -> SendReport
    {
        let recipient: EmailAddress
        do {
            recipient = try EmailAddress(address)
        } catch {
            return SendReport(
                verdict: .terminal, reason: "recipient-rejected", scenario: 5, mxHost: nil,
                elapsed: .zero, queued: false)
        }
        let message = Message(
            from: sender, to: recipient, subject: subject, text: text, messageID: messageID)
        let outcome = await coordinator.send(message, budget: settings.budget)
        let verdict: SendReport.Verdict =
            switch outcome.status {
            case .accepted: .accepted
            case .deferred: .inconclusive
            case .rejected: .terminal
            }
        return SendReport(
            verdict: verdict, reason: outcome.reason.rawValue, scenario: outcome.scenario,
            mxHost: outcome.mx?.host, elapsed: outcome.elapsed, queued: outcome.queued)
    }

    /// The coordinator's background work (the queue's retries and purges) until the
    /// calling task is cancelled; then waits for the retries and late transactions in
    /// flight, closes the journal (if it opened one) and ends ``events``.
    public func run() async {
        let sink = self.sink
        let forwarding = Task { [queue] in
            for await event in queue.events {
                if let mapped = Self.mailerEvent(event) { sink.yield(mapped) }
            }
        }
        await coordinator.run()
        await journal?.close()
        forwarding.cancel()
        sink.finish()
    }

    /// The Message-IDs of the queued messages.
    public func queuedMessageIDs() async throws -> [String] {
        try await queue.entries().map(\.messageID)
    }

    private static func mailerEvent(_ event: QueueEvent) -> MailerEvent? {
        switch event {
        case .enqueued(let entry):
            .queued(messageID: entry.messageID, reason: entry.lastReason ?? "deferred")
        case .delivered(let entry):
            .delivered(messageID: entry.messageID)
        case .retryScheduled(let entry, let next, let reason):
            .retryScheduled(messageID: entry.messageID, reason: reason, next: next)
        case .rejected(let entry, let reason):
            .gaveUp(messageID: entry.messageID, reason: reason)
        case .expired(let entry):
            .gaveUp(messageID: entry.messageID, reason: "expired")
        case .storeFailed(_, let message):
            .storeFailed(message: message)
        }
    }
}
