import DNSClient
import DirectSMTP
import SMTPClient
import Sockets

/// A chaos soak: many sends and probes, each through mock servers that inject one random
/// fault (``ChaosPlan``), checking what must hold whatever the servers do:
///
/// - every call answers within its budget plus ``Options/slack``;
/// - every message the server accepted is reported accepted and not queued (unless the
///   caller's budget ended first, `budget-exceeded`, or the server's `250` came only after
///   the end-of-data timeout: then nobody could have known);
/// - every send reported accepted was accepted by the server;
/// - open file descriptors return to their count before the soak.
///
/// Sessions run in ``Options/lanes`` parallel lanes. Each lane has its own mock SMTP and DNS
/// servers and coordinator (restarted every ``Options/sessionsPerServer`` sessions, the
/// SMTP server on the same port) and runs its sessions one after another, so a lane's
/// script is the fault of its current session. Each session has its own domain.
///
/// The soak runs on two event loops of its own: the coordinators and the lanes that call
/// and time them on one, the mock servers on the other (as a server would be: not
/// competing with the client for its thread). A caller on Swift's global executor hears
/// its answer only when a thread of that pool is free, which in a busy process (a parallel
/// test run) came up to 0.7 s after the coordinator had answered on time: a delay of the
/// caller's executor, which the soak would otherwise charge to the library.
///
/// ```swift
/// let report = try await ChaosSoak.run(ChaosSoak.Options(sessions: 300, seed: 7))
/// #expect(report.violations.isEmpty)
/// ```
public enum ChaosSoak {
    /// The coordinators' and the lanes' event loop (and executor), made once per process:
    /// its thread and its two descriptors are not the soak's to leak.
    private static let loop = EventLoop()
    /// The mock servers' event loop and executor, made once per process too.
    private static let serverLoop = EventLoop()
    /// Each lane's SMTP port, kept across its servers and across soaks in one process: a
    /// new port would be a new server to the client's TLS session cache, which would fill
    /// (up to its bound) with servers that are gone, and the memory readings with it.
    private static let lanePorts = Lock<[Int: Int]>([:])

    /// What to run.
    public struct Options: Sendable {
        /// How many sessions.
        public var sessions: Int
        /// The seed of the faults and the budgets.
        public var seed: UInt64
        /// The budget of a session; half the sessions get a random smaller one (≥ 20 ms).
        public var budget: Duration
        /// The coordinator's timeout per SMTP step and per DNS attempt.
        public var stepTimeout: Duration
        /// Sessions in flight at once, each lane with its own server and coordinator.
        public var lanes: Int
        /// A lane starts a fresh server and coordinator after this many sessions.
        public var sessionsPerServer: Int
        /// How far past its budget a call may answer.
        public var slack: Duration
        /// Whether any descriptor left open in the process counts as a leak (the harness,
        /// alone in its process), or only sockets on the soak's own ports (a test, beside
        /// other suites that open and close descriptors of their own meanwhile).
        public var checksAllDescriptors = true

        /// Options; the defaults are the harness's (10,000 sessions).
        public init(
            sessions: Int = 10_000, seed: UInt64 = 1, budget: Duration = .milliseconds(500),
            stepTimeout: Duration = .milliseconds(150), lanes: Int = 16, sessionsPerServer: Int = 250,
            slack: Duration = .milliseconds(5)
        ) {
            self.sessions = max(sessions, 0)
            self.seed = seed
            self.budget = max(budget, .milliseconds(20))
            self.stepTimeout = stepTimeout
            self.lanes = max(lanes, 1)
            self.sessionsPerServer = max(sessionsPerServer, 1)
            self.slack = slack
        }
    }

    /// What a soak found.
    public struct Report: Sendable {
        /// Sessions run.
        public var sessions = 0
        /// Outcomes by `status/reason`.
        public var outcomes: [String: Int] = [:]
        /// Sessions by fault and step (`rst@mail`; `none`, `dns-timeout`, `dns-servfail`).
        public var faults: [String: Int] = [:]
        /// Outcomes (`status/reason`) by fault kind (``ChaosPlan/Fault``'s raw value).
        public var outcomesByFault: [String: [String: Int]] = [:]
        /// Sessions over STARTTLS, by the call's policy (`required`, `opportunistic`).
        public var tlsSessions: [String: Int] = [:]
        /// Broken guarantees (at most 20 described; see ``violationCount``).
        public var violations: [String] = []
        /// How many guarantees broke.
        public var violationCount = 0
        /// Outcomes the standards would not give for the fault (at most 20 described).
        public var unexpected: [String] = []
        /// How many outcomes were unexpected.
        public var unexpectedCount = 0
        /// The longest a call answered past its budget (zero if none did).
        public var maxOvershoot: Duration = .zero
        /// Calls that answered later than budget + slack.
        public var lateCount = 0
        /// Messages the server accepted after the caller's budget had ended.
        public var deliveredAfterBudget = 0
        /// Messages whose `250` came after the end-of-data timeout.
        public var deliveredAfterTimeout = 0
        /// Open descriptors before the soak and after it (after waiting for them to close).
        public var descriptorsBefore = 0
        /// Open descriptors after the soak.
        public var descriptorsAfter = 0
        /// The descriptors open after the soak that were not before it (`fd → target`).
        public var leakedDescriptors: [String] = []
        /// Sockets on the soak's ports (its mock servers' and its clients' ends) still open
        /// after it (`fd → target`); its servers are stopped by then, so none should be.
        public var soakSocketsLeft: [String] = []
        /// The SMTP and DNS ports of the soak's mock servers.
        var ports: Set<Int> = []
        /// Resident memory, KiB: before the soak, after its first tenth (warm), after it.
        public var residentBefore = 0
        /// Resident memory after the first tenth, KiB.
        public var residentWarm = 0
        /// Resident memory after the soak, KiB.
        public var residentAfter = 0
        /// The highest resident memory during the soak, KiB (`VmHWM`, reset at its start).
        public var residentPeak = 0
        /// Bytes the allocator had handed out before the soak (``ProcessResources/heapInUseBytes()``).
        public var heapInUseBefore = 0
        /// Bytes the allocator had handed out after the soak.
        public var heapInUseAfter = 0
        /// Anonymous resident memory (heap, stacks; not code) before the soak, KiB.
        public var anonymousBefore = 0
        /// Anonymous resident memory after the soak, KiB.
        public var anonymousAfter = 0
        /// TLS sessions in the process's client session cache after the soak (bounded by
        /// its capacity; every lane's server is a new port, so a new key).
        public var tlsSessionsCached = 0
        /// Wall time of the soak.
        public var elapsed: Duration = .zero

        mutating func violate(_ text: String) {
            violationCount += 1
            if violations.count < 20 { violations.append(text) }
        }

        mutating func merge(_ other: Report) {
            sessions += other.sessions
            outcomes.merge(other.outcomes, uniquingKeysWith: +)
            faults.merge(other.faults, uniquingKeysWith: +)
            outcomesByFault.merge(other.outcomesByFault) { $0.merging($1, uniquingKeysWith: +) }
            tlsSessions.merge(other.tlsSessions, uniquingKeysWith: +)
            violationCount += other.violationCount
            violations += other.violations.prefix(max(0, 20 - violations.count))
            unexpectedCount += other.unexpectedCount
            unexpected += other.unexpected.prefix(max(0, 20 - unexpected.count))
            maxOvershoot = max(maxOvershoot, other.maxOvershoot)
            lateCount += other.lateCount
            deliveredAfterBudget += other.deliveredAfterBudget
            deliveredAfterTimeout += other.deliveredAfterTimeout
            ports.formUnion(other.ports)
        }
    }

    /// One session's record, checked when its lane's server stops.
    private struct Session {
        var index: Int
        var plan: ChaosPlan
        var recipient: String
        var outcome: VerificationOutcome
    }

    /// Runs the soak. Throws only when a mock server cannot start.
    public static func run(_ options: Options) async throws -> Report {
        let clock = ContinuousClock()
        let began = clock.now
        var report = Report()
        // Made once per process on first use, not per session: the event loops' epoll fds
        // and eventfds, and the runtime's timerfd (first sleep).
        _ = EventLoop.shared
        _ = loop
        _ = serverLoop
        try? await Task.sleep(for: .milliseconds(1))
        report.descriptorsBefore = ProcessResources.openFileDescriptors()
        let targetsBefore = ProcessResources.descriptorTargets()
        report.residentBefore = ProcessResources.residentKiB()
        report.heapInUseBefore = ProcessResources.heapInUseBytes()
        report.anonymousBefore = ProcessResources.residentAnonymousKiB()
        ProcessResources.resetPeakResident()

        // The first tenth warms the process up (allocator arenas, caches) before the
        // memory reading the end is compared with.
        let warm = min(options.sessions, max(options.sessions / 10, options.lanes))
        report.merge(try await runSessions(0..<warm, options: options))
        report.residentWarm = ProcessResources.residentKiB()
        report.merge(try await runSessions(warm..<options.sessions, options: options))

        // Attempts that outlive their callers end by their step timeouts.
        let settle = clock.now + options.stepTimeout * 10 + .seconds(2)
        while clock.now < settle,
            !ProcessResources.sockets(onPorts: report.ports).isEmpty
                || (options.checksAllDescriptors && ProcessResources.openFileDescriptors() > report.descriptorsBefore)
        {
            try? await Task.sleep(for: .milliseconds(20))
        }
        report.descriptorsAfter = ProcessResources.openFileDescriptors()
        report.soakSocketsLeft = ProcessResources.sockets(onPorts: report.ports)
            .sorted { $0.key < $1.key }.map { "\($0.key) → \($0.value)" }
        if !report.soakSocketsLeft.isEmpty {
            report.violate("\(report.soakSocketsLeft.count) sockets on the soak's ports still open after it: \(report.soakSocketsLeft)")
        }
        report.residentAfter = ProcessResources.residentKiB()
        report.residentPeak = ProcessResources.peakResidentKiB()
        report.heapInUseAfter = ProcessResources.heapInUseBytes()
        report.anonymousAfter = ProcessResources.residentAnonymousKiB()
        #if OpenSSL
        report.tlsSessionsCached = (try? TLSContext.opportunisticClient())?.sessionCache?.count ?? 0
        #endif
        // The concurrency runtime's timer queues open a timerfd each (per clock and
        // priority) on first use: a handful per process, never one per session.
        let runtimeTimers = ProcessResources.descriptorTargets().values.count { $0 == "anon_inode:[timerfd]" }
            - targetsBefore.values.count { $0 == "anon_inode:[timerfd]" }
        if options.checksAllDescriptors, report.descriptorsAfter - max(runtimeTimers, 0) > report.descriptorsBefore {
            report.leakedDescriptors = ProcessResources.descriptorTargets()
                .filter { targetsBefore[$0.key] != $0.value }.sorted { $0.key < $1.key }.map { "\($0.key) → \($0.value)" }
            report.violate(
                "\(report.descriptorsAfter - report.descriptorsBefore) file descriptors still open after the soak: \(report.leakedDescriptors)"
            )
        }
        report.elapsed = clock.now - began
        return report
    }

    private static func laneHost(_ lane: Int) -> String { "mx.lane\(lane).chaos.test" }

    private static func runSessions(_ range: Range<Int>, options: Options) async throws
        -> Report
    {
        try await withThrowingTaskGroup(of: Report.self) { group in
            for lane in 0..<options.lanes {
                let indices = Array(stride(from: range.lowerBound + lane, to: range.upperBound, by: options.lanes))
                guard !indices.isEmpty else { continue }
                group.addTask(executorPreference: loop) { try await runLane(lane, indices: indices, options: options) }
            }
            var report = Report()
            for try await lane in group { report.merge(lane) }
            return report
        }
    }

    private static func runLane(_ lane: Int, indices: [Int], options: Options) async throws
        -> Report
    {
        var report = Report()
        var start = 0
        var port = lanePorts.withLock { $0[lane] ?? 0 }
        while start < indices.count {
            let batch = indices[start..<min(start + options.sessionsPerServer, indices.count)]
            start += batch.count
            // Fresh servers per batch: what the mocks record stays bounded, so memory read
            // at the end is the library's.
            let dns = try MockDNSServer.start(loop: serverLoop, executor: serverLoop)
            dns.setA(laneHost(lane), ["127.0.0.1"])
            let script = ChaosPlan(mode: .send, step: .greeting, fault: .none).script(stepTimeout: options.stepTimeout)
            let server = try startSMTPServer(script, port: port)
            port = server.port
            lanePorts.withLock { $0[lane] = port }
            report.ports.formUnion([server.port, dns.address.port])
            var configuration = VerificationCoordinator.Configuration(
                heloName: "client.chaos.test", nameservers: [dns.address], smtpPort: server.port,
                timeouts: .uniform(options.stepTimeout), defaultBudget: options.budget)
            configuration.dnsTimeout = options.stepTimeout
            configuration.dnsAttempts = 1
            configuration.probeCache = .disabled
            configuration.hostHealthPenalty = .zero
            configuration.refusesNonPublicAddresses = false
            var sessions: [Session] = []
            do {
                let coordinator = try VerificationCoordinator(configuration: configuration, loop: loop)
                for index in batch {
                    let session = await runSession(index, lane: lane, options: options, dns: dns, server: server, coordinator: coordinator, report: &report)
                    sessions.append(session)
                }
            }
            // Lingering attempts (callers gone) end by their step timeouts.
            await server.waitUntilIdle(timeout: options.stepTimeout * 10 + .seconds(1))
            check(sessions, deliveries: server.deliveries, into: &report)
            server.stop()
            dns.stop()
        }
        return report
    }

    /// A lane's SMTP server on `port` (0: any), or on any port if that one was taken
    /// meanwhile.
    private static func startSMTPServer(_ script: MockSMTPScript, port: Int) throws(SocketError) -> MockSMTPServer {
        if port != 0,
            let server = try? MockSMTPServer.start(script, port: port, loop: serverLoop, executor: serverLoop)
        {
            return server
        }
        return try MockSMTPServer.start(script, loop: serverLoop, executor: serverLoop)
    }

    private static func domain(_ index: Int) -> String { "s\(index).chaos.test" }

    private static func runSession(
        _ index: Int, lane: Int, options: Options, dns: MockDNSServer, server: MockSMTPServer,
        coordinator: VerificationCoordinator, report: inout Report
    ) async -> Session {
        var random = ChaosRandom(seed: options.seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
        let plan = ChaosPlan.draw(using: &random)
        let budgetMS = Int(options.budget / .milliseconds(1))
        let budget: Duration = Bool.random(using: &random) ? options.budget : .milliseconds(Int.random(in: 20...max(20, budgetMS), using: &random))
        let recipient = "u\(index)@\(domain(index))"
        dns.setMX(domain(index), [(10, laneHost(lane))])
        if let behavior = plan.dnsBehavior { dns.setBehavior(behavior, for: domain(index), type: .mx) }
        server.update { $0 = plan.script(stepTimeout: options.stepTimeout) }

        let clock = ContinuousClock()
        let started = clock.now
        let outcome: VerificationOutcome
        // Addresses built from plain ASCII literals: they always parse.
        let to = try! EmailAddress(recipient)
        switch plan.mode {
        case .send:
            let message = Message(
                from: try! EmailAddress("app@client.chaos.test"), to: to,
                subject: "Your code: \(index)", text: "Welcome! Your code is \(index).")
            outcome = await coordinator.send(message, budget: budget, tls: plan.tls)
        case .probe:
            outcome = await coordinator.probe(to, budget: budget, tls: plan.tls)
        }
        let elapsed = clock.now - started

        report.sessions += 1
        let result = "\(outcome.status.rawValue)/\(outcome.reason.rawValue)"
        report.outcomes[result, default: 0] += 1
        report.outcomesByFault[plan.fault.rawValue, default: [:]][result, default: 0] += 1
        if let tls = plan.tls { report.tlsSessions[tls.rawValue, default: 0] += 1 }
        report.faults[plan.fault == .none || plan.step == .dns ? plan.fault.rawValue : "\(plan.fault.rawValue)@\(plan.step.rawValue)", default: 0] += 1
        let overshoot = elapsed - budget
        report.maxOvershoot = max(report.maxOvershoot, overshoot)
        if overshoot > options.slack {
            report.lateCount += 1
            // The coordinator's own clock (when its machine answered) beside the caller's
            // (when this task ran again): a gap is the caller's executor, not the library.
            report.violate(
                "#\(index) \(plan): answered \(elapsed) after a budget of \(budget) (the coordinator answered at \(outcome.elapsed))")
        }
        // A call its budget ended may defer whatever the fault, and its reason may name
        // the step that was still running (the race, the DNS lookup), not the budget.
        let budgetEnded = outcome.reason == .budgetExceeded || outcome.elapsed >= budget
        // A delayed reply that arrived before the client's step timer ran (the process
        // stalled longer than the delay's 100 ms past the timeout) was in time for it.
        let timerLate =
            plan.fault == .delayPastTimeout && outcome.status == .accepted
            && outcome.elapsed >= options.stepTimeout + .milliseconds(100)
        if !plan.expectedStatuses.contains(outcome.status), !(budgetEnded && outcome.status == .deferred), !timerLate {
            report.unexpectedCount += 1
            if report.unexpected.count < 20 {
                report.unexpected.append("#\(index) \(plan): \(outcome.status.rawValue)/\(outcome.reason.rawValue) \(outcome.detail ?? "")")
            }
        }
        return Session(index: index, plan: plan, recipient: recipient, outcome: outcome)
    }

    /// The delivery guarantees, against what the server recorded.
    private static func check(_ sessions: [Session], deliveries: [MockSMTPDelivery], into report: inout Report) {
        var delivered: [String: Int] = [:]
        for delivery in deliveries {
            for recipient in delivery.to { delivered[recipient.lowercased(), default: 0] += 1 }
        }
        for session in sessions {
            let outcome = session.outcome
            let count = delivered[session.recipient.lowercased()] ?? 0
            if count > 1 {
                report.violate("#\(session.index) \(session.plan): delivered \(count) times")
            }
            if count > 0 {
                if outcome.status == .accepted && !outcome.queued { continue }
                if outcome.reason == .budgetExceeded {
                    report.deliveredAfterBudget += 1
                } else if session.plan.step == .endOfData && session.plan.fault == .delayPastTimeout {
                    report.deliveredAfterTimeout += 1
                } else {
                    report.violate(
                        "#\(session.index) \(session.plan): the server accepted the message, the call answered \(outcome.status.rawValue)/\(outcome.reason.rawValue)\(outcome.queued ? " (queued)" : "")"
                    )
                }
            } else if session.plan.mode == .send, outcome.status == .accepted {
                report.violate("#\(session.index) \(session.plan): reported accepted, the server has no such message")
            }
        }
    }
}
