import Sockets
import Synchronization

/// Finds the mail hosts of a domain: MX records, their A/AAAA addresses, implicit MX and
/// null MX, with a TTL cache, negative caching and in-flight coalescing.
///
/// The answer is one of three (`MXLookup`), and the split between the last two is the
/// point: `noMailServer` only when DNS said so (NXDOMAIN, a lone null MX, no MX and no
/// address, or no MX host with an address, every one NXDOMAIN/NODATA); `dnsUnavailable`
/// whenever DNS could not tell (timeouts, SERVFAIL, REFUSED, unreachable servers,
/// garbage, the caller's deadline).
///
/// - Cached answers live until their smallest TTL (capped by
///   `MXCacheOptions/maximumTTL`); negative answers for min(SOA TTL, SOA MINIMUM)
///   (RFC 2308); `dnsUnavailable` for `MXCacheOptions/unavailableTTL` (default: not at
///   all). A cache hit costs no actor hop.
/// - Concurrent lookups of one domain share one query; each caller still gets its answer
///   by its own deadline, and a caller giving up never cuts the shared query short for
///   the others. Once every caller of a lookup gave up (deadline, cancellation), the
///   lookup is cancelled and its sockets closed; it caches nothing, and the next caller
///   asks afresh.
/// - At most ``ResolverConfiguration/maximumConcurrentQueries`` queries (sockets) are in
///   flight at once across all lookups; the others wait for a slot within their timeout.
/// - MX hosts are resolved concurrently, A and AAAA concurrently; equal preferences are
///   shuffled on every answer, cached or not.
///
/// ```swift
/// let resolver = MXResolver(configuration: .system())
/// switch await resolver.mx(for: "example.com", deadline: .now + .seconds(2)) {
/// case .found(let answer): print(answer.hosts.map(\.name))
/// case .noMailServer(let reason): print("rejected: \(reason)")
/// case .dnsUnavailable(let detail): print("deferred: \(detail)")
/// }
/// ```
public actor MXResolver {
    /// The most MX hosts resolved at once for one domain, the most preferred first; the
    /// answer holds at most this many. The next ones are asked only when none of these
    /// has an address (see ``maximumMXHostsExamined``).
    public static let maximumMXHosts = 16
    /// The most MX host names whose addresses are asked for while none has any (in
    /// batches of ``maximumMXHosts``); a domain whose first ones all lack addresses and
    /// that lists even more is `dnsUnavailable`, not `noMailServer`.
    public static let maximumMXHostsExamined = 64

    /// The servers asked.
    public nonisolated let configuration: ResolverConfiguration
    /// The cache settings.
    public nonisolated let cacheOptions: MXCacheOptions
    /// The query client underneath (shared by every lookup).
    public nonisolated let client: DNSQueryClient

    private nonisolated let now: @Sendable () -> ContinuousClock.Instant
    private nonisolated let cache: Lock<MXCache>
    private var inFlight: [String: LookupFlight] = [:]
    private nonisolated let running = Atomic<Int>(0)
    /// Whose timers bound the callers' waits.
    private nonisolated let loop: EventLoop

    /// A resolver.
    /// - Parameters:
    ///   - configuration: the servers (`ResolverConfiguration/system()` or your own).
    ///   - cache: cache size and TTL caps.
    ///   - now: the cache's clock; tests pass a manual one to expire entries without
    ///     waiting. Query timeouts always use the real `ContinuousClock`.
    ///   - loop: the event loop of the sockets.
    public init(
        configuration: ResolverConfiguration,
        cache: MXCacheOptions = MXCacheOptions(),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        loop: EventLoop = .shared
    ) {
        self.configuration = configuration
        self.cacheOptions = cache
        self.client = DNSQueryClient(configuration: configuration, loop: loop)
        self.loop = loop
        self.now = now
        self.cache = Lock(MXCache(capacity: cache.capacity))
    }

    /// The mail hosts of `domain` (a U-label or A-label name; a trailing dot is fine).
    ///
    /// Never throws: a `deadline` that passes, or cancellation, gives `.dnsUnavailable`;
    /// a text that cannot be a host name (see `aLabel(_:)`) gives
    /// `.noMailServer(.nonExistentDomain)` without any query. An address literal
    /// (`[192.0.2.1]`) is not a domain: callers deliver to it without asking DNS.
    ///
    /// A cached answer is returned without an actor hop; a miss joins the lookup already
    /// in flight for the same name, or starts one.
    public nonisolated func mx(for domain: String, deadline: ContinuousClock.Instant? = nil) async
        -> MXLookup
    {
        guard let key = aLabel(domain) else { return .noMailServer(.nonExistentDomain) }
        if let hit = cached(key) { return hit }
        if let deadline, deadline <= .now {
            return .dnsUnavailable("the deadline passed before DNS was asked about \(key)")
        }
        if Task.isCancelled { return .dnsUnavailable("the lookup of \(key) was cancelled") }
        let flight = await join(key)
        if let result = await flight.wait(deadline: deadline) { return shuffled(result) }
        if Task.isCancelled { return .dnsUnavailable("the lookup of \(key) was cancelled") }
        return .dnsUnavailable("no DNS answer for \(key) before the deadline")
    }

    /// Entries in the cache (expired ones included until they are touched or evicted).
    public nonisolated var cachedCount: Int { cache.withLock { $0.count } }

    /// Empties the cache.
    public nonisolated func removeAllCached() { cache.withLock { $0.removeAll() } }

    /// Uncached lookups running right now (each shared by its callers), counting one that
    /// was abandoned by all of them until its cancelled work has wound down.
    public nonisolated var lookupsInFlight: Int { running.load(ordering: .relaxed) }

    // MARK: Cache and coalescing

    private nonisolated func cached(_ key: String) -> MXLookup? {
        let current = now()
        guard let entry = cache.withLock({ $0.get(key, now: current) }) else { return nil }
        return entry.hasTies ? shuffled(entry.lookup) : entry.lookup
    }

    /// The flight for `key`, joined (the caller must `wait` on it, which leaves it):
    /// the one running, or a new one if there is none or it was abandoned (cache checked
    /// again first: an answer may have landed while this call waited for the actor).
    private func join(_ key: String) -> LookupFlight {
        if let flight = inFlight[key], flight.enroll() { return flight }
        let flight = LookupFlight(loop: loop)
        _ = flight.enroll()
        if let hit = cached(key) {
            flight.complete(hit)
            return flight
        }
        inFlight[key] = flight
        running.add(1, ordering: .relaxed)
        let work = Task.detached { [self] in
            let (result, ttl) = await self.resolve(key)
            // Cancelled: every caller left, and the result may be one the cancellation
            // cut short (a "cannot tell", or an answer missing hosts). Keep none of it.
            if !Task.isCancelled { self.store(key, result, ttl: ttl) }
            flight.complete(result)
            await self.land(key, flight)
            self.running.subtract(1, ordering: .relaxed)
        }
        flight.run(work)
        return flight
    }

    private func land(_ key: String, _ flight: LookupFlight) {
        if inFlight[key] === flight { inFlight[key] = nil }
    }

    private nonisolated func store(_ key: String, _ result: MXLookup, ttl: Duration?) {
        guard var ttl else { return }
        if case .dnsUnavailable = result { ttl = min(ttl, unavailableTTL) }
        ttl = min(ttl, cacheOptions.maximumTTL)
        guard ttl > .zero else { return }
        let current = now()
        cache.withLock { $0.set(key, result, expires: current + ttl, now: current) }
    }

    /// How long an uncertain result (``MXLookup/dnsUnavailable(_:)``, or an answer for
    /// which some lookup failed) may be kept: ``MXCacheOptions/unavailableTTL``, never
    /// more than 5 minutes (STANDARDS.md: a short cap on SERVFAIL).
    private nonisolated var unavailableTTL: Duration {
        Swift.max(Swift.min(cacheOptions.unavailableTTL, .seconds(300)), .zero)
    }

    // MARK: Resolution

    /// How long one whole uncached lookup may take: two rounds of queries (MX, then the
    /// hosts' addresses), each at worst attempts x servers x timeout.
    private nonisolated var lookupBudget: Duration {
        let perQuery =
            configuration.effectiveTimeout
            * (configuration.effectiveAttempts * max(configuration.usedNameservers.count, 1))
        return min(perQuery * 2 + .milliseconds(100), .seconds(120))
    }

    private nonisolated func seconds(_ ttl: UInt32?) -> Duration? {
        ttl.map { .seconds(Int64($0)) }
    }

    /// Resolves `key` from scratch: the lookup and how long it may be cached (`nil`: not).
    nonisolated func resolve(_ key: String) async -> (MXLookup, Duration?) {
        let unavailable = unavailableTTL
        guard let name = try? DNSName(key) else { return (.noMailServer(.nonExistentDomain), nil) }
        let deadline = ContinuousClock.now + lookupBudget
        let mx: DNSResolution
        do {
            mx = try await client.resolve(name, type: .mx, deadline: deadline)
        } catch {
            return (.dnsUnavailable("MX lookup for \(key) failed: \(error.message)"), unavailable)
        }
        if mx.isNonExistent { return (.noMailServer(.nonExistentDomain), seconds(mx.ttl)) }
        var records: [(preference: UInt16, exchange: DNSName)] = []
        for record in mx.records {
            if case .mx(let preference, let exchange) = record.data {
                records.append((preference, exchange))
            }
        }
        if records.isEmpty { return await implicitMX(key, name, mx, deadline) }
        // A null MX counts only alone (RFC 7505, DESIGN.md); beside others it is ignored.
        if records.count == 1, records[0].exchange.isRoot {
            return (.noMailServer(.nullMX), seconds(mx.ttl))
        }
        var preferences: [DNSName: UInt16] = [:]
        for record in records where !record.exchange.isRoot {
            preferences[record.exchange] = min(
                preferences[record.exchange] ?? .max, record.preference)
        }
        if preferences.isEmpty { return (.noMailServer(.nullMX), seconds(mx.ttl)) }
        // The most preferred hosts only: a zone with hundreds of MX records must not make
        // this process open hundreds of sockets at once (Postfix caps likewise). The next
        // batch is asked only while no host so far has an address, and a "no" counts only
        // once every MX host was asked: the hosts left out might have addresses.
        let sorted = preferences.keys.sorted {
            (preferences[$0]!, $0.description) < (preferences[$1]!, $1.description)
        }
        var targets: [DNSName] = []
        var results: [DNSName: HostAddresses] = [:]
        while targets.count < sorted.count, targets.count < Self.maximumMXHostsExamined {
            let batch = Array(sorted[targets.count...].prefix(Self.maximumMXHosts))
            targets += batch
            let answers = await withTaskGroup(of: (DNSName, HostAddresses).self) { group in
                for target in batch {
                    group.addTask { (target, await self.addresses(of: target, deadline: deadline)) }
                }
                var answers: [DNSName: HostAddresses] = [:]
                for await (target, result) in group { answers[target] = result }
                return answers
            }
            results.merge(answers) { first, _ in first }
            let anyFound = answers.values.contains {
                if case .found = $0 { return true }
                return false
            }
            if anyFound || ContinuousClock.now >= deadline || Task.isCancelled { break }
        }
        let unexamined = sorted.count - targets.count
        var hosts: [MailHost] = []
        var ttl: Duration? = seconds(mx.ttl)
        var failures: [String] = []
        var negativeTTL: Duration? = .seconds(86_400)
        var anyPartial = false
        var unresolved: [UnresolvedMailHost] = []
        func unresolvedHost(_ target: DNSName, _ status: UnresolvedMailHost.Status) -> UnresolvedMailHost {
            UnresolvedMailHost(name: target.description, preference: Int(preferences[target]!), status: status)
        }
        for target in targets {
            switch results[target] {
            case .found(let addresses, let hostTTL, let partial):
                hosts.append(
                    MailHost(
                        name: target.description, preference: Int(preferences[target]!),
                        addresses: addresses))
                ttl = min(ttl, seconds(hostTTL))
                if partial {
                    ttl = min(ttl, unavailable)
                    anyPartial = true
                }
            case .noAddresses(let hostTTL):
                negativeTTL = min(negativeTTL, seconds(hostTTL))
                unresolved.append(unresolvedHost(target, .noAddresses))
            case .failed(let detail):
                failures.append(detail)
                unresolved.append(unresolvedHost(target, .lookupFailed))
            case nil:
                failures.append("\(target) was not resolved")
                unresolved.append(unresolvedHost(target, .lookupFailed))
            }
        }
        unresolved += sorted[targets.count...].map { unresolvedHost($0, .notAsked) }
        if !hosts.isEmpty {
            if !failures.isEmpty { ttl = min(ttl, unavailable) }
            // Hosts left out for having no address come back when their negative TTL ends.
            ttl = min(ttl, negativeTTL)
            hosts.sort {
                $0.preference < $1.preference
                    || ($0.preference == $1.preference && $0.name < $1.name)
            }
            let complete = failures.isEmpty && unexamined == 0 && !anyPartial
            return (
                shuffled(
                    .found(
                        MXAnswer(
                            domain: key, hosts: hosts, isImplicit: false, isComplete: complete,
                            unresolvedHosts: unresolved))),
                ttl
            )
        }
        if failures.isEmpty, unexamined == 0 {
            return (.noMailServer(.hostsWithoutAddresses), min(seconds(mx.ttl), negativeTTL))
        }
        if failures.isEmpty {
            return (
                .dnsUnavailable(
                    "the \(targets.count) most preferred MX hosts of \(key) have no address; "
                        + "\(unexamined) more were not asked"), unavailable
            )
        }
        return (
            .dnsUnavailable(
                "no MX host of \(key) could be resolved: "
                    + failures.prefix(3).joined(separator: "; ")), unavailable
        )
    }

    /// No MX record: the domain's own addresses, as one host of preference 0.
    private nonisolated func implicitMX(
        _ key: String, _ name: DNSName, _ mx: DNSResolution, _ deadline: ContinuousClock.Instant
    ) async -> (MXLookup, Duration?) {
        switch await addresses(of: name, deadline: deadline) {
        case .found(let addresses, let ttl, let partial):
            var cacheTTL = min(seconds(mx.ttl), seconds(ttl))
            if partial { cacheTTL = min(cacheTTL, unavailableTTL) }
            let host = MailHost(name: key, preference: 0, addresses: addresses)
            return (
                .found(MXAnswer(domain: key, hosts: [host], isImplicit: true, isComplete: !partial)),
                cacheTTL
            )
        case .noAddresses(let ttl):
            return (.noMailServer(.noAddressRecords), min(seconds(mx.ttl), seconds(ttl)))
        case .failed(let detail):
            return (
                .dnsUnavailable("\(key) has no MX record and its address lookup failed: \(detail)"),
                unavailableTTL
            )
        }
    }

    enum HostAddresses {
        /// `partial`: one of A/AAAA failed, the other gave addresses. `ttl`: the
        /// smallest of the positive and negative TTLs involved; `nil`: do not cache.
        case found([IPAddress], ttl: UInt32?, partial: Bool)
        /// Both A and AAAA answered NXDOMAIN or NODATA.
        case noAddresses(ttl: UInt32?)
        case failed(String)
    }

    /// A and AAAA of `host`, asked concurrently, interleaved AAAA first (RFC 8305).
    nonisolated func addresses(of host: DNSName, deadline: ContinuousClock.Instant) async
        -> HostAddresses
    {
        async let v6 = lookup(host, .aaaa, deadline)
        async let v4 = lookup(host, .a, deadline)
        let (six, four) = await (v6, v4)
        let sixAddresses = (try? six.get())?.addresses ?? []
        let fourAddresses = (try? four.get())?.addresses ?? []
        if !sixAddresses.isEmpty || !fourAddresses.isEmpty {
            var interleaved: [IPAddress] = []
            interleaved.reserveCapacity(sixAddresses.count + fourAddresses.count)
            for index in 0..<max(sixAddresses.count, fourAddresses.count) {
                if index < sixAddresses.count { interleaved.append(sixAddresses[index]) }
                if index < fourAddresses.count { interleaved.append(fourAddresses[index]) }
            }
            // The answer also says "no addresses of the other family": that NODATA or
            // NXDOMAIN may be kept only for its own negative TTL (none without an SOA).
            var ttl: UInt32? = .max
            for result in [six, four] {
                if case .success(let resolution) = result {
                    if let current = ttl, let limit = resolution.ttl {
                        ttl = min(current, limit)
                    } else {
                        ttl = nil
                    }
                }
            }
            let partial: Bool
            switch (six, four) {
            case (.failure, _), (_, .failure): partial = true
            default: partial = false
            }
            return .found(interleaved, ttl: ttl, partial: partial)
        }
        switch (six, four) {
        case (.success(let a), .success(let b)):
            let ttl: UInt32? = if let x = a.ttl, let y = b.ttl { min(x, y) } else { nil }
            return .noAddresses(ttl: ttl)
        case (.failure(let error), _), (_, .failure(let error)):
            return .failed("\(host): \(error.message)")
        }
    }

    private nonisolated func lookup(
        _ host: DNSName, _ type: DNSRecordType, _ deadline: ContinuousClock.Instant
    ) async -> Result<DNSResolution, DNSQueryError> {
        do {
            return .success(try await client.resolve(host, type: type, deadline: deadline))
        } catch {
            return .failure(error)
        }
    }

    /// The same lookup with each run of equal preferences in random order.
    nonisolated func shuffled(_ lookup: MXLookup) -> MXLookup {
        guard case .found(var answer) = lookup, answer.hosts.count > 1 else { return lookup }
        var generator = SystemRandomNumberGenerator()
        var start = 0
        while start < answer.hosts.count {
            var end = start + 1
            while end < answer.hosts.count,
                answer.hosts[end].preference == answer.hosts[start].preference
            { end += 1 }
            if end - start > 1 { answer.hosts[start..<end].shuffle(using: &generator) }
            start = end
        }
        return .found(answer)
    }
}

/// `min` where `nil` means "do not cache", so it wins.
func min(_ a: Duration?, _ b: Duration?) -> Duration? {
    guard let a, let b else { return nil }
    return Swift.min(a, b)
}
