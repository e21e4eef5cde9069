import DNSClient
import SMTPClient
import Sockets

/// The settings the attempts read; ``VerificationCoordinator/Configuration`` makes them.
struct EngineSettings: Sendable {
    var smtpPort: Int = 25
    var staggerDelay: Duration = .milliseconds(250)
    var healthPenalty: Duration = .seconds(60)
    var probeCache = ProbeCachePolicy()
    var concurrencyPerDestination: Int = 50
    var refusesNonPublicAddresses = true
    var addressFamilyPreference = AddressFamilyPreference.interleaved
    /// Addresses dialled per call at most, the first in race order.
    var mxAddressLimit = 10
    var clock: @Sendable () -> ContinuousClock.Instant = { .now }
    /// STARTTLS for calls that do not say (and for the queue's re-sends).
    var tlsPolicy: TLSPolicy = .opportunistic
    /// How long an address whose TLS handshake failed gets plaintext straight away.
    var tlsBrokenPeriod: Duration = .seconds(3600)
}

/// What a coordinator's attempts share: the lookup and the dialer (the real resolver and
/// sessions in production, fakes in tests), the caches, the health memory, the
/// per-destination limiter, the loop whose timers and thread they use, the events. Starts
/// one ``AttemptDriver`` per call (a probe joins one in flight when it can).
final class DeliveryEngine<Lookup: MailExchangerLookup, Dialer: SMTPDialer>: Sendable {
    typealias Connection = Dialer.Connection
    typealias Driver = AttemptDriver<Lookup, Dialer>

    let lookup: Lookup
    let dialer: Dialer
    let settings: EngineSettings
    let loop: EventLoop
    let health: HostHealthMemory
    /// Addresses whose TLS handshake failed under the opportunistic policy: for
    /// ``EngineSettings/tlsBrokenPeriod`` they get plaintext at once (a broken
    /// TLS stack would otherwise cost every call a handshake and a second connection).
    let tlsBroken: HostHealthMemory
    let probeCache: ProbeCache
    let limiter: DestinationLimiter
    /// Runs the attempts' lookups, dials and transactions (see ``WorkerPool``).
    let workers: WorkerPool
    /// Final outcomes of sends that outlived their call, to every subscriber.
    let eventHub = EventHub<DeliveryEvent>(capacity: 10_000)
    /// The same outcomes, for the caller of each send (by Message-ID).
    let finals = FinalOutcomes(capacity: 10_000)
    private let attempts = Lock(Attempts())

    /// The attempts running, and the probes among them by flight: one lock, taken once
    /// when an attempt starts and once when it ends.
    private struct Attempts {
        var running = 0
        /// Waiting in ``drain()`` for `running` to be 0.
        var drained: [CheckedContinuation<Void, Never>] = []
        var probes: [ProbeFlight: Driver] = [:]
    }

    init(lookup: Lookup, dialer: Dialer, settings: EngineSettings, loop: EventLoop = .shared) {
        self.lookup = lookup
        self.dialer = dialer
        self.settings = settings
        self.loop = loop
        self.health = HostHealthMemory(penalty: settings.healthPenalty, clock: settings.clock)
        self.tlsBroken = HostHealthMemory(penalty: settings.tlsBrokenPeriod, clock: settings.clock)
        self.probeCache = ProbeCache(policy: settings.probeCache, clock: settings.clock)
        self.limiter = DestinationLimiter(limit: settings.concurrencyPerDestination)
        self.workers = WorkerPool(executor: dialer.preferredExecutor)
    }

    deinit {
        workers.shutdown()
        eventHub.finish()
    }

    /// A new stream of the final outcomes of sends that outlived their call (see
    /// ``EventHub``: cancelling one consumer ends only its own stream).
    var events: AsyncStream<DeliveryEvent> { eventHub.subscribe() }

    // MARK: Calls

    /// Runs one attempt for `request` (a send or a re-send) and returns its caller's answer.
    func send(_ request: consuming AttemptRequest<Connection>) async -> VerificationOutcome {
        await started(request).run()
    }

    /// A new attempt for `request`, counted as running.
    private func started(_ request: consuming AttemptRequest<Connection>) -> Driver {
        attempts.withLock { $0.running += 1 }
        return Driver(engine: self, request: request)
    }

    /// Asks whether `request.address` would be accepted (RCPT only) within its budget, from
    /// the probe cache when fresh; identical probes (same address and `sender`) in flight
    /// share one attempt, each caller with its own budget. A probe that tests for a
    /// catch-all (`request.testsCatchAll`) needs the conversation: the cache cannot answer it.
    func probe(_ request: consuming AttemptRequest<Connection>, sender: EmailAddress) async
        -> VerificationOutcome
    {
        switch enter(request, sender: sender) {
        case .cached(let outcome): outcome
        case .started(let driver): await driver.run()
        case .joined(let driver, let caller, let timer): await driver.wait(caller: caller, budget: timer)
        }
    }

    /// Where a probe goes: answered from the cache, a new attempt, or one in flight.
    private enum ProbeEntry {
        case cached(VerificationOutcome)
        case started(Driver)
        case joined(Driver, caller: Int, budget: ScheduledTimer)
    }

    /// The synchronous part of ``probe(_:sender:)``: the request's instants (whose
    /// layout is known only at run time) are never held by an async function.
    private func enter(_ request: consuming AttemptRequest<Connection>, sender: EmailAddress)
        -> ProbeEntry
    {
        let key = ProbeCache.key(for: request.address)
        if probeCache.isEnabled, !request.testsCatchAll, var cached = probeCache.outcome(for: key) {
            cached.elapsed = request.start.duration(to: .now)
            cached.fromCache = true
            return .cached(cached)
        }
        let start = request.start
        let budget = request.budget  // its deadline is reckoned only for a probe that joins
        let flight = ProbeFlight(key: key, sender: sender, testsCatchAll: request.testsCatchAll)
        request.flight = flight  // `attemptEnded` finds the driver by it
        // Offered to the table until it goes in or the probe joins one in flight (then
        // it is dropped, never started): made once, from the request itself.
        let new = Driver(engine: self, request: consume request)
        while true {
            // One hash of the flight in the usual case, a new probe; a probe that finds
            // one in flight puts it back.
            let (driver, isNew) = attempts.withLock { attempts in
                guard let running = attempts.probes.updateValue(new, forKey: flight) else {
                    attempts.running += 1
                    return (new, true)
                }
                attempts.probes[flight] = running
                return (running, false)
            }
            if isNew { return .started(driver) }
            if let (caller, timer) = driver.join(start: start, deadline: start + budget) {
                return .joined(driver, caller: caller, budget: timer)
            }
            // It ended between the lookup and the join: it leaves the table at once.
            attempts.withLock { attempts in
                if attempts.probes[flight] === driver { attempts.probes[flight] = nil }
            }
        }
    }

    /// How long a probe attempt's DNS lookup may take once no caller's budget bounds it:
    /// the resolver's own cap on a lookup.
    static var detachedLookupLimit: Duration { .seconds(120) }

    // MARK: Told by the drivers

    /// The candidates of a domain that is not an address literal, from its MX lookup
    /// (health order applied), or why there are none; with the time DNS took.
    func lookedUpCandidates(for domain: String, deadline: ContinuousClock.Instant) async
        -> (RaceCandidateList, Duration)
    {
        let start = ContinuousClock.now
        let answer = await lookup.mailExchangers(for: domain, deadline: deadline)
        let dnsTook = start.duration(to: .now)
        switch answer {
        case .dnsUnavailable(let detail):
            return (.none(.dnsUnavailable, detail: detail), dnsTook)
        case .noMailServer(let detail):
            return (.none(.noMailServer, detail: detail), dnsTook)
        case .found(let hosts, let complete):
            return (ordered(Self.candidateList(hosts, complete: complete, settings: settings)), dnsTook)
        }
    }

    /// `list`'s candidates in the order to dial them (address family, then health), the
    /// first ``EngineSettings/mxAddressLimit`` of them.
    private func ordered(_ list: RaceCandidateList) -> RaceCandidateList {
        guard case .ready(let dialable) = list else { return list }
        var ordered = health.ordered(Self.familyOrdered(dialable, settings))
        if ordered.count > settings.mxAddressLimit {
            ordered.removeLast(ordered.count - settings.mxAddressLimit)
        }
        return .ready(ordered)
    }

    /// The final outcome of a send whose caller got `budget-exceeded`: to its caller's
    /// ``FinalOutcomes`` entry and to every event subscriber.
    func publish(_ outcome: VerificationOutcome) {
        guard let messageID = outcome.messageID else { return }
        finals.deliver(outcome, for: messageID)
        eventHub.publish(DeliveryEvent(messageID: messageID, outcome: outcome))
    }

    /// `driver` is over: a probe leaves the in-flight table; a drain may end.
    func attemptEnded(_ driver: Driver) {
        let flight = driver.request.flight
        let drained: [CheckedContinuation<Void, Never>] = attempts.withLock { attempts in
            if let flight, let index = attempts.probes.index(forKey: flight),
                attempts.probes.values[index] === driver
            {
                attempts.probes.remove(at: index)
            }
            attempts.running -= 1
            guard attempts.running == 0 else { return [] }
            defer { attempts.drained = [] }
            return attempts.drained
        }
        for waiter in drained { waiter.resume() }
    }

    /// Attempts running now.
    var attemptsRunning: Int { attempts.withLock { $0.running } }

    /// Returns once no attempt runs (transactions that outlived their calls included;
    /// their step timeouts bound them).
    func drain() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = attempts.withLock { attempts in
                if attempts.running == 0 { return true }
                attempts.drained.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    // MARK: Candidates

    /// The candidate of an address-literal domain (`[192.0.2.1]`) at `address`, its
    /// address as ``EmailAddress`` parsed it (one address: no order to apply).
    /// Synchronous: a literal needs no lookup.
    func literalCandidates(_ domain: String, address: IPAddress) -> RaceCandidateList {
        Self.candidateList(
            [MailHost(name: domain, preference: 0, addresses: [address])], complete: true,
            settings: settings)
    }

    /// With ``AddressFamilyPreference/ipv4First``, every IPv4 candidate before any IPv6 one,
    /// MX preference and RFC 8305 order kept within each family; else `candidates` as they
    /// are.
    static func familyOrdered(_ candidates: [RaceCandidate], _ settings: EngineSettings) -> [RaceCandidate] {
        guard settings.addressFamilyPreference == .ipv4First, candidates.contains(where: \.address.isIPv6)
        else { return candidates }
        return candidates.filter { !$0.address.isIPv6 } + candidates.filter(\.address.isIPv6)
    }

    /// Every address of `hosts` that may be dialled, in order (IPv6 ones left out with
    /// ``AddressFamilyPreference/ipv4Only``); or, when none may, why.
    static func candidateList(
        _ hosts: [MailHost], complete: Bool, settings: EngineSettings
    ) -> RaceCandidateList {
        var unusable: String?
        var refused: String?
        var skippedIPv6 = false
        var dialable: [RaceCandidate] = []  // one array, not one per host and a join
        dialable.reserveCapacity(hosts.reduce(0) { $0 + $1.addresses.count })
        for host in hosts {
            for ip in host.addresses {
                if ip.isIPv6, settings.addressFamilyPreference == .ipv4Only {
                    skippedIPv6 = true
                    continue
                }
                do {
                    let server = try SocketAddress(ip, port: settings.smtpPort)
                    if settings.refusesNonPublicAddresses, !server.isPublic {
                        refused =
                            "\(host.name) is at \(server.ip), not a public address (refused by configuration)"
                        continue
                    }
                    dialable.append(RaceCandidate(host: host, address: server))
                } catch {
                    unusable = "cannot connect to \(ip) port \(settings.smtpPort): \(error)"
                }
            }
        }
        if !dialable.isEmpty { return .ready(dialable) }
        if skippedIPv6 {
            // The domain has a mail server; our configuration chose not to use it.
            return .none(
                .noReachableHost,
                detail: "every usable MX address is IPv6, and the configuration allows IPv4 only")
        }
        // DNS named hosts with addresses (the lookup never hands over a host without one):
        // if none can be dialled, the fault is ours (the SMTP port setting), never the
        // domain's, so deferred, not no-mail-server. Unless every address was refused as
        // not public: then the domain has no mail server we may use, for good if DNS gave
        // its whole answer; if some lookups failed, the hosts not seen may be public, so
        // that is DNS being unavailable, for now.
        let allRefused = refused != nil && unusable == nil
        let reason: OutcomeReason =
            hosts.isEmpty || (allRefused && complete)
            ? .noMailServer : allRefused ? .dnsUnavailable : .noReachableHost
        return .none(
            reason, detail: hosts.isEmpty ? "no MX host has an address" : unusable ?? refused)
    }
}

/// Identical probes in flight: same address (cache key), sender and catch-all test.
///
/// Hashed once, when made, by its address key alone (probes of one address with another
/// sender or catch-all test are rare: equality tells them apart): a probe's entry is
/// looked up when it starts and when it ends, and the table rehashes the entries that
/// follow a removed one; hashing the strings each time cost more than the rest of the
/// probe's bookkeeping in the engine.
struct ProbeFlight: Hashable, Sendable {
    let key: String
    let sender: EmailAddress
    let testsCatchAll: Bool
    private let hash: Int

    init(key: String, sender: EmailAddress, testsCatchAll: Bool) {
        self.key = key
        self.sender = sender
        self.testsCatchAll = testsCatchAll
        self.hash = key.hashValue
    }

    static func == (left: ProbeFlight, right: ProbeFlight) -> Bool {
        left.hash == right.hash && left.key == right.key && left.sender == right.sender
            && left.testsCatchAll == right.testsCatchAll
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(hash)
    }
}
