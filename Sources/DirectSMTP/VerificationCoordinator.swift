import DKIM
import DNSClient
import SMTPClient
import Sockets

/// The product: hands a message straight to the recipient domain's MX server, or asks
/// whether it would take the recipient, and answers within a budget: accepted, rejected
/// for good, or deferred (DESIGN.md's six outcomes).
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
/// Each call is one ``AttemptStateMachine`` run by its driver on the socket event loop:
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
                limits: configuration.queueLimits)
            attachedQueue.withLock { $0 = queue }
        }
    }

    /// The background work: the queue's retries and purges (when the configuration has a
    /// store), until the calling task is cancelled; then it stops starting work, waits for
    /// what is in flight (retries, transactions that outlived their calls, bounded by
    /// their step timeouts) and returns. Call it once, from a task the application owns
    /// (or a service group: it has the shape of swift-service-lifecycle's `Service.run()`).
    public func run() async {
        if let queue {
            // The re-sends go through the engine, not the coordinator: the queue keeps no
            // reference to it (the function is an argument of run, not stored).
            let engine = self.engine
            let budget = configuration.redeliveryBudget
            await queue.run { entry in await Self.redeliver(entry, engine: engine, budget: budget) }
        } else {
            await Self.untilCancelled()
        }
        await engine.drain()
    }

    /// Final outcomes of sends that returned `deferred(budget-exceeded)` while their
    /// transaction went on, for observers (a send's own caller uses
    /// ``finalOutcome(for:)``).
    ///
    /// Each access subscribes anew: the stream gets every event published from then on
    /// (the first subscriber after a quiet spell also gets the events published while
    /// nobody listened, the newest 10,000). Cancelling the task that iterates one stream
    /// ends that stream only.
    public var events: AsyncStream<DeliveryEvent> { engine.events }

    /// The final outcome of the send that returned `outcome`: `outcome` itself, unless it
    /// is `deferred(budget-exceeded)`; then the outcome its transaction ends with (its
    /// step timeouts bound the wait), with `queued` saying whether it went to the queue.
    /// Only this send's outcome: another call's can never arrive here. Ask once per send.
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
    public func send(_ message: Message, budget: Duration? = nil) async -> VerificationOutcome {
        await send(message, budget: budget, tls: nil)
    }

    /// ``send(_:budget:)`` with STARTTLS as `tls` says instead of
    /// ``Configuration/tlsPolicy``; ``TLSPolicy/required`` defers rather than send the
    /// message in plaintext. The queue re-sends with the configured policy, so a
    /// ``TLSPolicy/required`` send is queued only when the configuration requires TLS
    /// too; otherwise its deferral comes back with `queued: false`.
    public func send(_ message: Message, budget: Duration? = nil, tls: TLSPolicy?) async
        -> VerificationOutcome
    {
        let start = ContinuousClock.now  // the budget includes composing the message
        // Signed once, here: the queue stores these bytes, so a retry sends the same
        // signature. Signing fails only if libcrypto does (keys are checked when loaded,
        // a Message always has a From); the message then goes out unsigned.
        let encoded = message.encoded()
        let data = (try? DKIMSigner.sign(encoded, with: configuration.dkimSigners)) ?? encoded
        let from = message.from
        let to = message.to
        // The queue re-sends with the configured policy: a message that must not go in
        // plaintext while the configuration would allow it is not queued (`queued: false`).
        let plaintextRetryPossible = tls == .required && configuration.tlsPolicy != .required
        let queue = plaintextRetryPossible ? nil : queueAccess(from: from, to: to, data: data)
        return await engine.send(
            AttemptRequest(
                mode: .send(queue: queue != nil), address: to.description, domain: to.domain,
                messageID: data.messageID, start: start,
                budget: budget ?? configuration.defaultBudget,
                transaction: { await $0.send(from: from, to: to, data: data) }, queue: queue,
                tls: tls))
    }

    /// Asks `address`'s MX server whether it would take mail for it (MAIL, RCPT, then RSET
    /// and QUIT; nothing is delivered), within `budget`. Fresh answers come from the probe
    /// cache; identical probes in flight share one attempt.
    /// - Parameter from: `MAIL FROM`; default ``Configuration/probeSender``.
    public func probe(_ address: EmailAddress, from: EmailAddress? = nil, budget: Duration? = nil)
        async -> VerificationOutcome
    {
        await probe(address, from: from, budget: budget, tls: nil)
    }

    /// ``probe(_:from:budget:)`` with STARTTLS as `tls` says instead of
    /// ``Configuration/tlsPolicy``. The probe cache and probes in flight are shared
    /// whatever the policy.
    public func probe(
        _ address: EmailAddress, from: EmailAddress? = nil, budget: Duration? = nil,
        tls: TLSPolicy?
    ) async -> VerificationOutcome {
        let sender = from ?? probeSender
        return await engine.probe(
            AttemptRequest(
                mode: .probe, address: address.description, domain: address.domain,
                start: .now, budget: budget ?? configuration.defaultBudget,
                transaction: { await $0.probe(from: sender, to: address) }, tls: tls),
            sender: sender.description)
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
