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
/// on in the background; its final outcome arrives on ``events`` and, if deferred, in
/// the queue (``attach(_:)``).
///
/// Where the work runs: `send` and `probe` encode and wait on their caller's executor
/// (they are `nonisolated(nonsending)`); the attempt runs on a reused worker task that
/// prefers the socket event loop, so every reply resumes the session on the loop's own
/// thread. The caller's task-local values and priority do not flow into the attempt.
///
/// From a sign-up handler:
///
/// ```swift
/// let coordinator = try VerificationCoordinator(configuration: .init(heloName: "app.example.com"))
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
    typealias Engine = DeliveryEngine<MXResolver, SessionDialer>
    let engine: Engine
    private let probeSender: EmailAddress
    /// Where deferred sends go, once a queue is attached: stores the message and returns
    /// whether it did.
    typealias DeferredSink =
        @Sendable (
            _ from: EmailAddress, _ to: EmailAddress, _ data: MessageData,
            _ outcome: VerificationOutcome
        ) async -> Bool
    /// Where a send whose transaction outlived its budget is kept until its final
    /// outcome, once a queue is attached: how to settle it, or `nil` if not stored.
    typealias HoldSink =
        @Sendable (
            _ from: EmailAddress, _ to: EmailAddress, _ data: MessageData,
            _ outcome: VerificationOutcome
        ) async -> HeldSend.Settle?
    /// The attached queue's two entrances (set together by ``attach(_:)``).
    struct QueueSinks: Sendable {
        var deferred: DeferredSink
        var hold: HoldSink
    }
    let queueSinks = Lock<QueueSinks?>(nil)

    /// A coordinator with its own resolver.
    /// - Throws: ``EmailAddressError`` when the HELO name is not a host name or an
    ///   address literal, or holds CR, LF or NUL.
    public convenience init(configuration: Configuration, loop: EventLoop = .shared)
        throws(EmailAddressError)
    {
        try self.init(
            configuration: configuration,
            resolver: MXResolver(configuration: configuration.resolverConfiguration), loop: loop)
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
        self.engine = DeliveryEngine(
            lookup: resolver,
            dialer: SessionDialer(
                configuration: session, patientConfiguration: patientSession, loop: loop),
            settings: configuration.engineSettings)
    }

    /// Final outcomes of sends that returned `deferred(budget-exceeded)` while their
    /// transaction went on.
    ///
    /// Each access subscribes anew: the stream gets every event published from then on
    /// (the first subscriber after a quiet spell also gets the events published while
    /// nobody listened, the newest 10,000). Cancelling the task that iterates one stream
    /// ends that stream only; access `events` again to listen again. Several streams may
    /// be iterated at once; each gets every event.
    public var events: AsyncStream<DeliveryEvent> { engine.events }

    /// The next event to arrive within `limit`, or `nil`: what a caller that saw
    /// `deferred(budget-exceeded)` awaits to learn the final outcome (the `send` command
    /// does). Events published while nobody listened are delivered first.
    public func nextEvent(within limit: Duration) async -> DeliveryEvent? {
        await events.first(within: limit)
    }

    /// Sends `message` to `message.to`'s MX server within `budget` (default
    /// ``Configuration/defaultBudget``). A deferred outcome is queued before this returns
    /// when a queue is attached (`queued` says so). For `budget-exceeded` the transaction
    /// goes on and its final outcome arrives on ``events``; with a queue attached the
    /// message is stored before this returns all the same (`queued: true`), so a crash or
    /// restart before the transaction ends loses nothing. The final outcome then settles
    /// it: delivered or rejected, it leaves the queue; deferred, it is retried.
    public func send(_ message: Message, budget: Duration? = nil) async -> VerificationOutcome {
        let start = ContinuousClock.now  // the budget includes composing the message
        let data = message.encoded()
        let from = message.from
        let to = message.to
        var onDeferred: Engine.DeferredHandler?
        var onHold: Engine.HoldHandler?
        if let sinks = queueSinks.withLock({ $0 }) {
            onDeferred = { outcome in await sinks.deferred(from, to, data, outcome) }
            onHold = { outcome in await sinks.hold(from, to, data, outcome) }
        }
        return await engine.send(
            to: to.description, domain: to.domain, messageID: data.messageID,
            budget: budget ?? configuration.defaultBudget, onDeferred: onDeferred,
            onHold: onHold, start: start,
            transaction: { await SessionResult($0.send(from: from, to: to, data: data)) })
    }

    /// Asks `address`'s MX server whether it would take mail for it (MAIL, RCPT, then RSET
    /// and QUIT; nothing is delivered), within `budget`. Fresh answers come from the probe
    /// cache; identical probes in flight share one attempt.
    /// - Parameter from: `MAIL FROM`; default ``Configuration/probeSender``.
    public func probe(_ address: EmailAddress, from: EmailAddress? = nil, budget: Duration? = nil)
        async -> VerificationOutcome
    {
        let sender = from ?? probeSender
        return await engine.probe(
            address.description, domain: address.domain, sender: sender.description,
            budget: budget ?? configuration.defaultBudget,
            transaction: { await SessionResult($0.probe(from: sender, to: address)) })
    }

    /// One re-send with the redelivery budget, handing nothing to the queue (the queue
    /// itself decides about a deferral). A transaction still running at the budget or at
    /// cancellation is waited for, so the answer is never "deferred" for a message that
    /// then gets delivered (the queue would send it twice).
    func resend(from: EmailAddress, to: EmailAddress, data: MessageData) async
        -> VerificationOutcome
    {
        await engine.send(
            to: to.description, domain: to.domain, messageID: data.messageID,
            budget: configuration.redeliveryBudget, onDeferred: nil, awaitsTransaction: true,
            patient: true, transaction: { await SessionResult($0.send(from: from, to: to, data: data)) })
    }
}
