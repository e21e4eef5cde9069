import DKIM
import DNSClient
import SMTPClient
import Sockets

/// The product: hands a message straight to the recipient domain's MX server, or asks
/// whether it would take the recipient, and answers within a budget: accepted, rejected
/// for good, or deferred (<doc:SixOutcomes>).
///
/// It looks up the MX hosts, races them (preference order, the next one after the
/// stagger delay or at once on failure; the first to finish connect + greeting + EHLO
/// wins, the others are closed), runs MAIL/RCPT/DATA on the winner only, and maps the
/// replies to a ``VerificationOutcome``. The call returns by the budget, always: a send
/// whose transaction is still running then returns `deferred(budget-exceeded)` and goes
/// on in the background; ``finalOutcome(for:)`` waits for its real outcome. With a
/// ``Configuration/queueStore``, deferred sends are stored before `send` returns and
/// ``run()`` retries them.
///
/// Each call is one `AttemptStateMachine` run by its driver on the socket event loop:
/// the budget is a timer of the loop, the caller's task-local values and priority do not
/// flow into the attempt.
///
/// From a sign-up handler:
///
/// ```swift
/// var configuration = VerificationCoordinator.Configuration(heloName: "app.example.com")
/// configuration.queueStore = try await FileJournalQueueStore.open(path: "/var/lib/app/mail.journal")
/// let coordinator = try VerificationCoordinator(configuration: configuration)
/// let background = Task { await coordinator.run() }   // retries; cancel to stop
///
/// func signUp(_ form: SignUpForm) async throws -> Response {
///     let message = Message(from: try EmailAddress("noreply@app.example.com"),
///                           to: try EmailAddress(form.email),   // bad syntax: 400 at once
///                           subject: "Your code: \(form.code)", text: "Welcome! ...")
///     let outcome = await coordinator.send(message, budget: .seconds(2))
///     switch outcome.status {
///     case .accepted: return .ok("Check your inbox")
///     case .rejected: return .unprocessable("This address cannot receive mail (\(outcome.reason))")
///     case .deferred: return .accepted("We will keep trying; check your inbox in a few minutes")
///     }
/// }
/// ```
public final class VerificationCoordinator: Sendable {
    /// The configuration it was made with.
    public let configuration: Configuration
    /// The DNS resolver (its cache is shared by every call).
    public let resolver: MXResolver
    /// The queue deferred sends go to: made from ``Configuration/queueStore``, or `nil`.
    /// Its ``DeliveryQueue/events`` report retries, deliveries and expiries.
    public var queue: DeliveryQueue? { attachedQueue.withLock { $0 } }
    typealias Engine = DeliveryEngine<MXResolver, SessionDialer>
    let engine: Engine
    private let probeSender: EmailAddress
    /// The queue deferred sends go to; set once, at init (or by the command's ``attach(_:)``).
    let attachedQueue = Lock<DeliveryQueue?>(nil)

    /// A coordinator with its own resolver (and its own queue when the configuration has
    /// a ``Configuration/queueStore``).
    /// - Throws: ``EmailAddressError`` when the HELO name is not a host name or an
    ///   address literal, or holds CR, LF or NUL.
    public convenience init(configuration: Configuration, loop: EventLoop = .shared)
        throws(EmailAddressError)
    {
        try self.init(
            configuration: configuration,
            resolver: MXResolver(configuration: configuration.resolverConfiguration, loop: loop),
            loop: loop)
    }

    /// A coordinator using `resolver` (to share its cache, or to point it at a test server).
    /// - Throws: ``EmailAddressError`` for a bad HELO name.
    public init(configuration: Configuration, resolver: MXResolver, loop: EventLoop = .shared)
        throws(EmailAddressError)
    {
        let session = try SMTPSessionConfiguration(
            heloName: configuration.heloName, timeouts: configuration.timeouts)
        var patientSession = session
        patientSession.timeouts = configuration.redeliveryTimeouts
        if let sender = configuration.probeSender {
            self.probeSender = sender
        } else {
            self.probeSender = try EmailAddress("postmaster@\(session.heloName)")
        }
        self.configuration = configuration
        self.resolver = resolver
        let engine = Engine(
            lookup: resolver,
            dialer: SessionDialer(
                configuration: session, patientConfiguration: patientSession, loop: loop),
            settings: configuration.engineSettings, loop: loop)
        self.engine = engine
        if let store = configuration.queueStore {
            let queue = DeliveryQueue(
                store: store, schedule: configuration.retrySchedule,
                limits: configuration.queueLimits, clock: configuration.queueClock,
                observer: configuration.observer)
            attachedQueue.withLock { $0 = queue }
        }
    }

    /// The background work: the queue's retries and purges (when the configuration has a
    /// store), until the calling task is cancelled; then it stops starting work, waits for
    /// what is in flight (retries, transactions that outlived their calls, bounded by
    /// their step timeouts) and returns. Call it once, from a task the application owns
    /// (or a service group: it has the shape of swift-service-lifecycle's `Service.run()`).
    public func run() async {
        // Late final outcomes go to the observer until the drain is over.
        let lateFinals = configuration.observer.map { observer in
            Task { [events = engine.events] in
                for await event in events {
                    observer.attemptFinished(
                        AttemptFinished(kind: .send, outcome: event.outcome, isLateFinal: true))
                }
            }
        }
        if let queue {
            // The re-sends go through the engine, not the coordinator: the queue keeps no
            // reference to it (the function is an argument of run, not stored).
            let engine = self.engine
            let budget = configuration.redeliveryBudget
            let observer = configuration.observer
            await queue.run { entry in
                await Self.redeliver(entry, engine: engine, budget: budget, observer: observer)
            }
        } else {
            await Self.untilCancelled()
        }
        await engine.drain()
        lateFinals?.cancel()
        await lateFinals?.value
    }

    /// Final outcomes of sends that returned `deferred(budget-exceeded)` while their
    /// transaction went on, for observers (a send's own caller uses
    /// ``finalOutcome(for:)``).
    ///
    /// Each access subscribes anew: the stream gets every event published from then on
    /// (the first subscriber after a quiet spell also gets the events published while
    /// nobody listened, the newest 10,000). Cancelling the task that iterates one stream
    /// ends that stream only. While ``run()`` runs with a ``Configuration/observer``, it
    /// subscribes too (to hand late finals to the observer): events published when the
    /// application had no stream of its own then went to the observer, not to a backlog.
    public var events: AsyncStream<DeliveryEvent> { engine.events }

    /// The final outcome of the send that returned `outcome`: `outcome` itself, unless it
    /// is `deferred(budget-exceeded)`; then the outcome its transaction ends with (its
    /// step timeouts bound the wait), with `queued` saying whether it went to the queue.
    /// Only this send's outcome: another call's can never arrive here. Ask once per send.
    /// When the calling task is cancelled, returns `outcome` at once; the final outcome
    /// then waits for a later ask.
    public func finalOutcome(for outcome: VerificationOutcome) async -> VerificationOutcome {
        guard outcome.reason == .budgetExceeded, let messageID = outcome.messageID else {
            return outcome
        }
        return await engine.finals.wait(for: messageID) ?? outcome
    }

    /// Sends `message` to `message.to`'s MX server within `budget` (default
    /// ``Configuration/defaultBudget``). With a queue, a deferred outcome is stored before
    /// this returns (`queued` says so). For `budget-exceeded` the transaction goes on
    /// (``finalOutcome(for:)``); with a queue the message is stored before this returns
    /// all the same (`queued: true`), so a crash or restart before the transaction ends
    /// loses nothing. The final outcome then settles it: delivered or rejected, it leaves
    /// the queue; deferred, it is retried.
    ///
    /// `tls` overrides ``Configuration/tlsPolicy`` for this call; ``TLSPolicy/required``
    /// defers rather than send the message in plaintext. The queue re-sends with the
    /// configured policy, so a ``TLSPolicy/required`` send is queued only when the
    /// configuration requires TLS too; otherwise its deferral comes back with
    /// `queued: false`.
    /// - Parameters:
    ///   - message: the message; its `to` is the recipient.
    ///   - budget: the time the call may take; default ``Configuration/defaultBudget``.
    ///   - tls: STARTTLS for this call; default ``Configuration/tlsPolicy``.
    public func send(_ message: Message, budget: Duration? = nil, tls: TLSPolicy? = nil) async
        -> VerificationOutcome
    {
        let start = ContinuousClock.now  // the budget includes composing the message
        // Signed once, here: the queue stores these bytes, so a retry sends the same
        // signature. Signing fails only if libcrypto does (keys are checked when loaded,
        // a Message always has a From).
        let encoded = message.encoded()
        let from = message.from
        let to = message.to
        let budget = budget ?? configuration.defaultBudget
        let observer = configuration.observer
        observer?.attemptStarted(
            AttemptStarted(
                kind: .send, recipientDomain: to.domain, messageID: encoded.messageID, budget: budget))
        let data: MessageData
        do {
            data = try DKIMSigner.sign(encoded, with: configuration.dkimSigners)
        } catch {
            let outcome = Self.unsigned(message, error: error, messageID: encoded.messageID, start: start)
            observer?.attemptFinished(AttemptFinished(kind: .send, outcome: outcome))
            return outcome
        }
        // The queue re-sends with the configured policy: a message that must not go in
        // plaintext while the configuration would allow it is not queued (`queued: false`).
        let plaintextRetryPossible = tls == .required && configuration.tlsPolicy != .required
        let queue = plaintextRetryPossible ? nil : queueAccess(from: from, to: to, data: data)
        let outcome = await engine.send(
            AttemptRequest(
                mode: .send(queue: queue != nil), address: to.description, domain: to.domain,
                literalAddress: to.literalAddress,
                messageID: data.messageID, start: start, budget: budget,
                transaction: { await $0.send(from: from, to: to, data: data) }, queue: queue,
                tls: tls))
        observer?.attemptFinished(AttemptFinished(kind: .send, outcome: outcome))
        return outcome
    }

    /// The outcome of a send whose DKIM signing failed: nothing is sent and nothing
    /// queued. An unsigned copy would fail the receivers' authentication checks (Gmail's
    /// `550 5.7.26`, or a DMARC `p=reject`) or reach the spam folder, and whoever
    /// configured DKIM would never learn why; queueing it would store the unsigned bytes
    /// for every retry. So `deferred(temporary-failure)` (libcrypto failing is not the
    /// recipient's fault and may pass), with hint `authentication` and the error in the
    /// detail: the caller may send again.
    static func unsigned(
        _ message: Message, error: DKIMError, messageID: String?, start: ContinuousClock.Instant
    ) -> VerificationOutcome {
        VerificationOutcome(
            reason: .temporaryFailure, address: message.to.description,
            detail: "DKIM signing failed (\(error)); nothing was sent, since an unsigned message would fail the receiver's authentication checks",
            elapsed: start.duration(to: .now), messageID: messageID, hint: .authentication)
    }

    /// Asks `address`'s MX server whether it would take mail for it (MAIL, RCPT, then RSET
    /// and QUIT; nothing is delivered), within `budget`. Fresh answers come from the probe
    /// cache; identical probes in flight share one attempt.
    ///
    /// With `catchAll`, the outcome's ``VerificationOutcome/catchAll`` says whether the
    /// domain accepts any local part (an `accepted` then proves little). The test costs no
    /// round trip: the RCPT of a random local part goes in the same pipelined group as the
    /// recipient's. What it finds is kept per domain with the probe cache's lifetimes (a
    /// catch-all as long as an accepted probe, the opposite as long as a rejected one) and
    /// answers later probes of the domain without another random RCPT. It stays `nil` when
    /// the server does not offer PIPELINING or answers the random RCPT with a temporary or
    /// policy reply.
    /// - Parameters:
    ///   - address: the recipient to ask about.
    ///   - from: `MAIL FROM`; default ``Configuration/probeSender``.
    ///   - budget: the time the call may take; default ``Configuration/defaultBudget``.
    ///   - tls: STARTTLS for this call; default ``Configuration/tlsPolicy``. The probe
    ///     cache and probes in flight are shared whatever the policy.
    ///   - catchAll: test whether the domain is a catch-all (default `false`: `catchAll`
    ///     is then `nil`).
    public func probe(
        _ address: EmailAddress, from: EmailAddress? = nil, budget: Duration? = nil,
        tls: TLSPolicy? = nil, catchAll: Bool = false
    ) async -> VerificationOutcome {
        let sender = from ?? probeSender
        let budget = budget ?? configuration.defaultBudget
        let observer = configuration.observer
        observer?.attemptStarted(
            AttemptStarted(kind: .probe, recipientDomain: address.domain, messageID: nil, budget: budget))
        let recipient = address.description
        let known = catchAll ? engine.probeCache.catchAll(for: ProbeCache.key(for: recipient)) : nil
        let randomProbe = catchAll && known == nil ? Self.catchAllProbe(for: address) : nil
        var outcome = await engine.probe(
            AttemptRequest(
                mode: .probe, address: recipient, domain: address.domain,
                literalAddress: address.literalAddress,
                start: .now, budget: budget,
                transaction: { await $0.probe(from: sender, to: address, catchAllProbe: randomProbe) },
                testsCatchAll: randomProbe != nil, tls: tls),
            sender: sender)
        // Only asked-for answers: a cached outcome may carry an earlier test's.
        outcome.catchAll = catchAll ? (randomProbe != nil ? outcome.catchAll : known) : nil
        observer?.attemptFinished(AttemptFinished(kind: .probe, outcome: outcome))
        return outcome
    }

    /// A random address of `address`'s domain for the catch-all test: 20 lower-case
    /// letters and digits (about 103 bits), never a real mailbox.
    static func catchAllProbe(for address: EmailAddress) -> EmailAddress? {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        let local = String((0..<20).map { _ in alphabet.randomElement(using: &generator)! })
        return try? EmailAddress("\(local)@\(address.domain)")
    }

    /// Suspends until the calling task is cancelled.
    private static func untilCancelled() async {
        let gate = CancellationGate()
        await withTaskCancellationHandler {
            await gate.wait()
        } onCancel: {
            gate.open()
        }
    }
}

/// Opens once; whoever waits (or comes later) goes on.
private final class CancellationGate: Sendable {
    private let state = Lock<(open: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isOpen = state.withLock { state in
                if !state.open { state.waiter = continuation }
                return state.open
            }
            if isOpen { continuation.resume() }
        }
    }

    func open() {
        let waiter = state.withLock { state in
            state.open = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
