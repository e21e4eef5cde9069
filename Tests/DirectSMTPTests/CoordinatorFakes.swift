import Dispatch
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
                MailExchanger(
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
    var openFailure: SessionResult?
    var transactionDelay: Duration = .zero
    /// How long collecting the record (`finish()`) takes: the engine's bookkeeping after
    /// the race, made slow so a deadline can land in it.
    var finishDelay: Duration = .zero
    /// How long a cancelled open takes to end (a loser slow to unwind), uncancellably.
    var unwindDelay: Duration = .zero
    /// When set, the transaction waits for the test to open the gate (after the delay).
    var transactionGate: Gate?
    var transactionResult = SessionResult(
        verdict: .accepted, phase: .endOfData,
        reply: DecidingReply(code: 250, enhanced: "2.0.0", text: "queued as 1"))

    static let healthy = FakeServer()
    static let blackholed = FakeServer(openDelay: nil)
    static func refusing(_ verdict: SessionVerdict = .unreachable, code: Int? = nil) -> FakeServer {
        FakeServer(
            openFailure: SessionResult(
                verdict: verdict, phase: code == nil ? .connect : .greeting,
                reply: code.map { DecidingReply(code: $0, text: "go away") },
                detail: code == nil ? "connection refused" : nil))
    }
    static func answering(
        _ code: Int, _ enhanced: String?, at phase: TimingPhase = .rcpt, verdict: SessionVerdict
    ) -> FakeServer {
        FakeServer(
            transactionResult: SessionResult(
                verdict: verdict, phase: phase,
                reply: DecidingReply(code: code, enhanced: enhanced, text: "reply \(code)")))
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
    let log = Lock(FakeLog())

    init(_ servers: [String: FakeServer]) {
        self.servers = servers
    }

    func connection(to server: SocketAddress, patient: Bool) -> FakeConnection {
        FakeConnection(address: server, server: servers[server.ip] ?? .refusing(), dialer: self)
    }

    var snapshot: FakeLog { log.withLock { $0 } }
}

final class FakeConnection: SMTPConnection {
    let address: SocketAddress
    let server: FakeServer
    let dialer: FakeDialer
    private let lines = Lock<[TranscriptLine]>([])

    init(address: SocketAddress, server: FakeServer, dialer: FakeDialer) {
        self.address = address
        self.server = server
        self.dialer = dialer
    }

    private func note(_ direction: TranscriptLine.Direction, _ text: String) {
        lines.withLock {
            $0.append(TranscriptLine(server: address.description, direction: direction, text: text))
        }
    }

    func openForRace() async -> SessionResult? {
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
            return SessionResult(verdict: .unreachable, phase: .connect, detail: "cancelled")
        }
        if let failure = server.openFailure {
            note(.server, "\(failure.reply?.code ?? 0) go away")
            return failure
        }
        note(.server, "220 fake ESMTP")
        note(.client, "EHLO test")
        note(.server, "250 fake")
        return nil
    }

    func runTransaction() async -> SessionResult {
        dialer.log.withLock {
            $0.transactions.append(address.ip)
            $0.activeTransactions += 1
            $0.maxActiveTransactions = max($0.maxActiveTransactions, $0.activeTransactions)
        }
        defer { dialer.log.withLock { $0.activeTransactions -= 1 } }
        note(.client, "MAIL FROM:<a@b>")
        if server.transactionDelay > .zero {
            // Not cancellable: a real transaction runs to its own step timeouts.
            try? await Task.sleep(for: server.transactionDelay)
        }
        await server.transactionGate?.wait()
        note(.server, "\(server.transactionResult.reply?.code ?? 0) done")
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
        clock: ManualClock = ManualClock()
    ) {
        var settings = EngineSettings()
        settings.refusesNonPublicAddresses = refusesNonPublic
        settings.staggerDelay = stagger
        settings.healthPenalty = healthPenalty
        settings.probeCache = probeCache
        settings.concurrencyPerDestination = concurrency
        settings.clock = clock.function
        self.init(lookup: lookup, dialer: FakeDialer(servers), settings: settings)
    }

    func send(
        _ address: String = "user@example.com", budget: Duration = .seconds(3),
        onDeferred: DeferredHandler? = nil, onHold: HoldHandler? = nil
    ) async -> VerificationOutcome {
        await send(
            to: address, domain: String(address.split(separator: "@").last!),
            messageID: "<m1@test>",
            budget: budget, onDeferred: onDeferred, onHold: onHold,
            transaction: { await $0.runTransaction() })
    }

    func probe(_ address: String = "user@example.com", budget: Duration = .seconds(3)) async
        -> VerificationOutcome
    {
        await probe(
            address, domain: String(address.split(separator: "@").last!), sender: "probe@test",
            budget: budget, transaction: { await $0.runTransaction() })
    }
}

/// Milliseconds of an outcome's elapsed time.
extension VerificationOutcome {
    var ms: Double { elapsed.milliseconds }
}
