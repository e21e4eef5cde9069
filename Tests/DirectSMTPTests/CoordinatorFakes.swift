import DNSClient
import Dispatch
import SMTPClient
import Sockets
import Synchronization

@testable import DirectSMTP

/// A clock the tests move by hand (caches, health memory).
final class ManualClock: Sendable {
    private let base = ContinuousClock.now
    private let offset = Lock(Duration.zero)

    func now() -> ContinuousClock.Instant { base + offset.withLock { $0 } }
    func advance(by duration: Duration) { offset.withLock { $0 += duration } }
    var function: @Sendable () -> ContinuousClock.Instant { { [self] in now() } }
}

/// An MX lookup with a fixed answer after a delay (cancellable), counting its calls. With
/// `honorsDeadline`, it gives up at the caller's deadline as the real resolver does.
final class FakeLookup: MailExchangerLookup {
    private let current: Lock<MailExchangerLookupResult>
    /// What the next lookup answers.
    var answer: MailExchangerLookupResult {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
    let delay: Duration
    let honorsDeadline: Bool
    let calls = Atomic<Int>(0)

    init(_ answer: MailExchangerLookupResult, delay: Duration = .zero, honorsDeadline: Bool = false)
    {
        self.current = Lock(answer)
        self.delay = delay
        self.honorsDeadline = honorsDeadline
    }

    /// MX hosts named mxN with one IPv4 loopback address each, e.g. (10, "127.0.0.11").
    convenience init(
        hosts: [(preference: Int, ip: String)], delay: Duration = .zero,
        honorsDeadline: Bool = false, complete: Bool = true
    ) {
        self.init(
            Self.found(hosts, complete: complete), delay: delay, honorsDeadline: honorsDeadline)
    }

    /// The answer naming `hosts` as ``init(hosts:delay:honorsDeadline:complete:)`` does.
    static func found(_ hosts: [(preference: Int, ip: String)], complete: Bool = true)
        -> MailExchangerLookupResult
    {
        .found(
            hosts.enumerated().map { index, host in
                MailHost(
                    name: "mx\(index + 1).example.com", preference: host.preference,
                    addresses: [IPAddress(host.ip)!])
            }, complete: complete)
    }

    func mailExchangers(for domain: String, deadline: ContinuousClock.Instant) async
        -> MailExchangerLookupResult
    {
        calls.add(1, ordering: .relaxed)
        let answerAt = ContinuousClock.now + delay
        if honorsDeadline, deadline < answerAt {
            try? await Task.sleep(until: deadline)
            return .dnsUnavailable("no DNS answer before the deadline")
        }
        if delay > .zero {
            do { try await Task.sleep(for: delay) } catch { return .dnsUnavailable("cancelled") }
        }
        return answer
    }
}

/// A one-way gate: waiters suspend until the test opens it.
final class Gate: Sendable {
    private let state = Lock<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>(
        (false, []))

    func wait() async {
        await withCheckedContinuation { continuation in
            let isOpen = state.withLock { state in
                if !state.open { state.waiters.append(continuation) }
                return state.open
            }
            if isOpen { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// How a fake server at one IP behaves.
struct FakeServer: Sendable {
    /// How long connect + greeting + EHLO take; `nil` = never (blackholed), until cancelled.
    var openDelay: Duration? = .zero
    /// `nil`: the session opens; else why it does not.
    var openFailure: SMTPResult?
    var transactionDelay: Duration = .zero
    /// How long collecting the record (`finish()`) takes: the engine's bookkeeping after
    /// the race, made slow so a deadline can land in it.
    var finishDelay: Duration = .zero
    /// How long a cancelled open takes to end (a loser slow to unwind), uncancellably.
    var unwindDelay: Duration = .zero
    /// When set, the transaction waits for the test to open the gate (after the delay).
    var transactionGate: Gate?
    var transactionResult = SMTPResult(
        verdict: .accepted, step: .endOfData, reply: SMTPReply(250, "2.0.0 queued as 1"))

    static let healthy = FakeServer()
    static let blackholed = FakeServer(openDelay: nil)
    static func refusing(_ verdict: SMTPVerdict = .unreachable, code: Int? = nil) -> FakeServer {
        FakeServer(
            openFailure: SMTPResult(
                verdict: verdict, step: code == nil ? .connect : .greeting,
                reply: code.map { SMTPReply($0, "go away") },
                detail: code == nil ? "connection refused" : nil))
    }
    static func answering(
        _ code: Int, _ enhanced: String?, at step: SMTPStep = .rcpt, verdict: SMTPVerdict
    ) -> FakeServer {
        FakeServer(
            transactionResult: SMTPResult(
                verdict: verdict, step: step,
                reply: SMTPReply(code, (enhanced.map { $0 + " " } ?? "") + "reply \(code)")))
    }
}

/// What the fake servers saw.
struct FakeLog: Sendable {
    var opened: [String] = []
    var closed: [String] = []
    var transactions: [String] = []
    var activeTransactions = 0
    var maxActiveTransactions = 0
    var openStarts: [String: ContinuousClock.Instant] = [:]
}

/// Dials fake servers by IP.
final class FakeDialer: SMTPDialer {
    let servers: [String: FakeServer]
    /// Servers whose behaviour changes with each connection, in turn.
    let rotations: [String: [FakeServer]]
    let log = Lock(FakeLog())
    private let dialled = Lock<[String: Int]>([:])

    init(_ servers: [String: FakeServer], rotations: [String: [FakeServer]] = [:]) {
        self.servers = servers
        self.rotations = rotations
    }

    /// The attempts run on the event loop's thread, as the real dialer's do, not on the
    /// cooperative pool: a parallel `swift test` runs CPU-heavy tests there (two threads
    /// on two cores), and fake attempts queued behind them for a second missed their
    /// budgets (`dns-unavailable` where a test expected `budget-exceeded`).
    var preferredExecutor: (any TaskExecutor)? { EventLoop.shared }

    func connection(to server: SocketAddress, patient: Bool) -> FakeConnection {
        let count = dialled.withLock { counts in
            defer { counts[server.ip, default: 0] += 1 }
            return counts[server.ip, default: 0]
        }
        let behaviour =
            rotations[server.ip].map { $0[count % $0.count] } ?? servers[server.ip] ?? .refusing()
        return FakeConnection(address: server, server: behaviour, dialer: self)
    }

    var snapshot: FakeLog { log.withLock { $0 } }
}

final class FakeConnection: SMTPConnection {
    let address: SocketAddress
    let server: FakeServer
    let dialer: FakeDialer
    private let lines = Lock<[TranscriptEntry]>([])

    init(address: SocketAddress, server: FakeServer, dialer: FakeDialer) {
        self.address = address
        self.server = server
        self.dialer = dialer
    }

    private func note(_ direction: TranscriptEntry.Direction, _ text: String) {
        lines.withLock {
            $0.append(TranscriptEntry(server: address.description, direction: direction, text: text))
        }
    }

    func openForRace() async -> SMTPResult? {
        dialer.log.withLock {
            $0.opened.append(address.ip)
            $0.openStarts[address.ip] = .now
        }
        do {
            if let delay = server.openDelay {
                if delay > .zero { try await Task.sleep(for: delay) }
            } else {
                try await Task.sleep(for: .seconds(60))
            }
        } catch {
            if server.unwindDelay > .zero {
                let (seconds, attoseconds) = server.unwindDelay.components
                let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
                await withCheckedContinuation { continuation in
                    DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) {
                        continuation.resume()
                    }
                }
            }
            return SMTPResult(verdict: .unreachable, step: .connect, detail: "cancelled")
        }
        if let failure = server.openFailure {
            note(.received, "\(failure.reply?.code ?? 0) go away")
            return failure
        }
        note(.received, "220 fake ESMTP")
        note(.sent, "EHLO test")
        note(.received, "250 fake")
        return nil
    }

    func runTransaction() async -> SMTPResult {
        dialer.log.withLock {
            $0.transactions.append(address.ip)
            $0.activeTransactions += 1
            $0.maxActiveTransactions = max($0.maxActiveTransactions, $0.activeTransactions)
        }
        defer { dialer.log.withLock { $0.activeTransactions -= 1 } }
        note(.sent, "MAIL FROM:<a@b>")
        if server.transactionDelay > .zero {
            // Not cancellable: a real transaction runs to its own step timeouts.
            try? await Task.sleep(for: server.transactionDelay)
        }
        await server.transactionGate?.wait()
        note(.received, "\(server.transactionResult.reply?.code ?? 0) done")
        return server.transactionResult
    }

    func close() async {
        dialer.log.withLock { $0.closed.append(address.ip) }
    }

    func finish() async -> SessionRecord {
        if server.finishDelay > .zero { try? await Task.sleep(for: server.finishDelay) }
        await close()
        return SessionRecord(
            transcript: lines.withLock { $0 },
            timings: [
                .connect: .milliseconds(1), .greeting: .milliseconds(1), .ehlo: .milliseconds(1),
                .rcpt: .milliseconds(2),
            ])
    }
}

typealias FakeEngine = DeliveryEngine<FakeLookup, FakeDialer>

extension DeliveryEngine where Lookup == FakeLookup, Dialer == FakeDialer {
    convenience init(
        lookup: FakeLookup,
        servers: [String: FakeServer],
        stagger: Duration = .milliseconds(250),
        healthPenalty: Duration = .seconds(60),
        probeCache: ProbeCachePolicy = .disabled,
        concurrency: Int = 50,
        refusesNonPublic: Bool = false,
        clock: ManualClock = ManualClock(),
        rotations: [String: [FakeServer]] = [:]
    ) {
        var settings = EngineSettings()
        settings.refusesNonPublicAddresses = refusesNonPublic
        settings.staggerDelay = stagger
        settings.healthPenalty = healthPenalty
        settings.probeCache = probeCache
        settings.concurrencyPerDestination = concurrency
        settings.clock = clock.function
        self.init(
            lookup: lookup, dialer: FakeDialer(servers, rotations: rotations), settings: settings)
    }

    /// Hands a deferred send to the queue; whether it was stored.
    typealias DeferredHandler = @Sendable (VerificationOutcome) async -> Bool
    /// Holds a send whose budget ended mid-transaction; how to settle it, or `nil`.
    typealias HoldHandler = @Sendable (VerificationOutcome) async -> QueueAccess.Settle?

    func send(
        _ address: String = "user@example.com", budget: Duration = .seconds(3),
        onDeferred: DeferredHandler? = nil, onHold: HoldHandler? = nil
    ) async -> VerificationOutcome {
        var queue: QueueAccess?
        if onDeferred != nil || onHold != nil {
            queue = QueueAccess(enqueue: onDeferred ?? { _ in false }, hold: onHold ?? { _ in nil })
        }
        return await send(
            AttemptRequest(
                mode: .send(queue: queue != nil), address: address,
                domain: String(address.split(separator: "@").last!),
                literalAddress: (try? EmailAddress(address))?.literalAddress, messageID: "<m1@test>",
                start: .now, budget: budget, transaction: { await $0.runTransaction() },
                queue: queue))
    }

    func probe(_ address: String = "user@example.com", budget: Duration = .seconds(3)) async
        -> VerificationOutcome
    {
        await probe(
            AttemptRequest(
                mode: .probe, address: address,
                domain: String(address.split(separator: "@").last!),
                literalAddress: (try? EmailAddress(address))?.literalAddress, start: .now, budget: budget,
                transaction: { await $0.runTransaction() }),
            sender: try! EmailAddress("probe@test"))
    }
}

extension AsyncStream where Element: Sendable {
    /// The first element to arrive within `limit`, or `nil` (tests only: the library's
    /// callers wait with ``VerificationCoordinator/finalOutcome(for:)``).
    func first(within limit: Duration) async -> Element? {
        await withTaskGroup(of: Element?.self) { group in
            group.addTask {
                for await element in self { return element }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}

/// Milliseconds of an outcome's elapsed time.
extension VerificationOutcome {
    var ms: Double { elapsed.milliseconds }
}
