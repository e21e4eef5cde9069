import DNSClient
import Sockets

/// An in-process DNS server on loopback for tests: UDP and TCP on the same port (the
/// kernel picks it), answering from records you set, misbehaving on demand, and counting
/// the queries it gets so tests can assert caching and coalescing.
///
/// It plays the recursive server a stub resolver talks to: CNAMEs are followed inside
/// the answer, unknown names are NXDOMAIN, names with records of other types get NODATA,
/// and negative answers carry an SOA (TTL and MINIMUM from ``setNegativeTTL(soaTTL:minimum:)``).
/// Answers larger than the client's EDNS size (512 without EDNS) go out truncated over UDP.
///
/// ```swift
/// let server = try MockDNSServer.start()
/// defer { server.stop() }
/// server.setMX("example.com", [(10, "mx1.example.com"), (20, "mx2.example.com")])
/// server.setA("mx1.example.com", ["127.0.0.1"])
/// server.setAAAA("mx2.example.com", ["::1"])
/// server.setBehavior(.servfail, for: "broken.example", type: .mx)
/// let resolver = MXResolver(configuration: server.resolverConfiguration())
/// let lookup = await resolver.mx(for: "example.com")
/// #expect(server.queryCount(for: "example.com", type: .mx) == 1)
/// ```
public final class MockDNSServer: Sendable {
    private struct Key: Hashable {
        var name: DNSName
        var type: DNSRecordType?
    }

    private struct State {
        var records: [DNSName: [DNSRecordType: [DNSRecord]]] = [:]
        var behaviors: [Key: MockDNSBehavior] = [:]
        var sequencePositions: [Key: Int] = [:]
        var counts: [Key: Int] = [:]
        var total = 0
        var tcp = 0
        var soaTTL: UInt32 = 300
        var soaMinimum: UInt32 = 60
        /// Running tasks by id; each removes itself when it ends.
        var tasks: [UInt64: Task<Void, Never>] = [:]
        var nextTaskID: UInt64 = 0
        /// Tasks that ended before they were stored.
        var endedEarly: Set<UInt64> = []
        var stopped = false
    }

    /// Where the server listens (UDP and TCP).
    public let address: SocketAddress
    private let udp: UDPSocket
    private let spoofer: UDPSocket
    private let tcp: TCPListener
    private let state = Lock(State())
    /// Where the server's tasks run (`nil`: Swift's global executor).
    private let executor: (any TaskExecutor)?

    private init(udp: UDPSocket, spoofer: UDPSocket, tcp: TCPListener, executor: (any TaskExecutor)?) {
        self.udp = udp
        self.spoofer = spoofer
        self.tcp = tcp
        self.address = udp.localAddress
        self.executor = executor
    }

    /// Starts a server on `host` (a loopback address), port chosen by the kernel, UDP and
    /// TCP on the same port.
    /// - Parameter executor: where the server's tasks run (e.g. the loop itself, so that
    ///   a busy global executor does not delay its answers); `nil`: Swift's global one.
    /// - Throws: `SocketError` if no port could be bound for both, or
    ///   `.invalidAddress` for a host outside 127.0.0.0/8 and ::1 (a mock server never
    ///   listens beyond this machine).
    public static func start(
        host: String = "127.0.0.1", loop: EventLoop = .shared, executor: (any TaskExecutor)? = nil
    ) throws(SocketError) -> MockDNSServer
    {
        let any = try SocketAddress(ip: host, port: 0)
        guard any.isLoopback else {
            throw SocketError(
                .invalidAddress, "MockDNSServer listens on loopback only, not \(host)")
        }
        var lastError = SocketError(.addressInUse, "no port was free for both UDP and TCP")
        for _ in 0..<50 {
            let udp = try UDPSocket.bind(to: any, loop: loop)
            var tcp: TCPListener?
            do {
                tcp = try TCPListener.bind(to: udp.localAddress, loop: loop)
                let spoofer = try UDPSocket.bind(to: any, loop: loop)
                let server = MockDNSServer(udp: udp, spoofer: spoofer, tcp: tcp!, executor: executor)
                server.run()
                return server
            } catch {
                udp.close()
                tcp?.close()
                lastError = error
                if error.code != .addressInUse { throw error }
            }
        }
        throw lastError
    }

    /// A configuration that asks only this server: `timeout` per attempt, `attempts`.
    public func resolverConfiguration(timeout: Duration = .milliseconds(500), attempts: Int = 1)
        -> ResolverConfiguration
    {
        ResolverConfiguration(nameservers: [address], timeout: timeout, attempts: attempts)
    }

    /// Stops answering and closes the sockets; idempotent.
    public func stop() {
        let tasks = state.withLock { state in
            state.stopped = true
            defer { state.tasks.removeAll() }
            return Array(state.tasks.values)
        }
        udp.close()
        spoofer.close()
        tcp.close()
        for task in tasks { task.cancel() }
    }

    deinit { stop() }

    // MARK: Records

    /// Sets the MX records of `domain` (replacing earlier ones). A host of `"."` is a null MX.
    public func setMX(
        _ domain: String, _ hosts: [(preference: Int, host: String)], ttl: UInt32 = 300
    ) {
        let owner = Self.name(domain)
        setRecords(
            hosts.map {
                .mx(
                    owner, preference: UInt16(clamping: $0.preference),
                    exchange: Self.name($0.host), ttl: ttl)
            },
            for: domain, type: .mx)
    }

    /// Sets a whole mail domain in one call: its MX records and each host's A/AAAA
    /// records (IPv4 and IPv6 text mixed as you like).
    ///
    /// ```swift
    /// server.setMailDomain("example.com", [(10, "mx1.example.com", ["127.0.0.1", "::1"]),
    ///                                      (20, "mx2.example.com", ["127.0.0.2"])])
    /// ```
    public func setMailDomain(
        _ domain: String, _ hosts: [(preference: Int, host: String, addresses: [String])],
        ttl: UInt32 = 300
    ) {
        setMX(domain, hosts.map { ($0.preference, $0.host) }, ttl: ttl)
        for host in hosts {
            let v6 = host.addresses.filter { IPAddress($0)?.isIPv6 == true }
            let v4 = host.addresses.filter { IPAddress($0)?.isIPv6 == false }
            setA(host.host, v4, ttl: ttl)
            setAAAA(host.host, v6, ttl: ttl)
        }
    }

    /// Makes `domain`'s only MX record the null MX `0 .` (RFC 7505).
    public func setNullMX(_ domain: String, ttl: UInt32 = 300) {
        setMX(domain, [(0, ".")], ttl: ttl)
    }

    /// Sets the A records of `name` (IPv4 text).
    public func setA(_ name: String, _ addresses: [String], ttl: UInt32 = 300) {
        let owner = Self.name(name)
        setRecords(
            addresses.compactMap { IPAddress($0) }.map { .address(owner, $0, ttl: ttl) }, for: name,
            type: .a)
    }

    /// Sets the AAAA records of `name` (IPv6 text).
    public func setAAAA(_ name: String, _ addresses: [String], ttl: UInt32 = 300) {
        let owner = Self.name(name)
        setRecords(
            addresses.compactMap { IPAddress($0) }.map { .address(owner, $0, ttl: ttl) }, for: name,
            type: .aaaa)
    }

    /// Makes `name` an alias of `target`.
    public func setCNAME(_ name: String, _ target: String, ttl: UInt32 = 300) {
        setRecords(
            [.cname(Self.name(name), target: Self.name(target), ttl: ttl)], for: name, type: .cname)
    }

    /// Sets the records of one name and type (any type, raw RDATA included). An empty
    /// list removes them.
    public func setRecords(_ records: [DNSRecord], for name: String, type: DNSRecordType) {
        let owner = Self.name(name)
        state.withLock { state in
            if records.isEmpty {
                state.records[owner]?[type] = nil
                if state.records[owner]?.isEmpty == true { state.records[owner] = nil }
            } else {
                state.records[owner, default: [:]][type] = records
            }
        }
    }

    /// Makes `name` answer NXDOMAIN for every type (shorthand for
    /// `setBehavior(.nxdomain, for: name)`).
    public func setNXDOMAIN(_ name: String) { setBehavior(.nxdomain, for: name) }

    /// Sets how queries for `name` (and `type`, or every type when `nil`) are answered. A
    /// behavior for the exact type wins over one for every type.
    public func setBehavior(
        _ behavior: MockDNSBehavior, for name: String, type: DNSRecordType? = nil
    ) {
        let key = Key(name: Self.name(name), type: type)
        state.withLock { state in
            state.behaviors[key] = behavior
            state.sequencePositions[key] = 0
        }
    }

    /// The SOA TTL and MINIMUM sent with negative answers (defaults 300 and 60).
    public func setNegativeTTL(soaTTL: UInt32, minimum: UInt32) {
        state.withLock { state in
            state.soaTTL = soaTTL
            state.soaMinimum = minimum
        }
    }

    /// Forgets every record and behavior (counts stay).
    public func removeAll() {
        state.withLock { state in
            state.records.removeAll()
            state.behaviors.removeAll()
            state.sequencePositions.removeAll()
        }
    }

    // MARK: Counts

    /// Queries received for `name` and `type` (every type when `nil`), over UDP and TCP.
    public func queryCount(for name: String, type: DNSRecordType? = nil) -> Int {
        let owner = Self.name(name)
        return state.withLock { state in
            if let type { return state.counts[Key(name: owner, type: type)] ?? 0 }
            return state.counts.filter { $0.key.name == owner }.reduce(0) { $0 + $1.value }
        }
    }

    /// Every query received, over UDP and TCP.
    public var totalQueryCount: Int { state.withLock { $0.total } }

    /// Queries received over TCP.
    public var tcpQueryCount: Int { state.withLock { $0.tcp } }

    /// Sets every count back to zero.
    public func resetCounts() {
        state.withLock { state in
            state.counts.removeAll()
            state.total = 0
            state.tcp = 0
        }
    }

    // MARK: Serving

    private static func name(_ text: String) -> DNSName {
        (try? DNSName(text)) ?? .root
    }

    private func run() {
        let udpTask = Task.detached(executorPreference: executor) { [udp, weak self] in
            while true {
                guard let (bytes, source) = try? await udp.receive(maxBytes: 4096) else { return }
                guard let self else { return }
                await self.handleUDP(bytes, from: source)
            }
        }
        let tcpTask = Task.detached(executorPreference: executor) { [tcp, weak self] in
            while true {
                guard let connection = try? await tcp.acceptWaitingOutFDShortage() else { return }
                guard let self else {
                    connection.close()
                    return
                }
                self.spawn { server in await server.serveTCP(connection) }
            }
        }
        state.withLock { state in
            state.tasks[UInt64.max] = udpTask
            state.tasks[UInt64.max - 1] = tcpTask
        }
    }

    /// Runs `body` in a task that ``stop()`` cancels and that forgets itself when done.
    private func spawn(_ body: @escaping @Sendable (MockDNSServer) async -> Void) {
        guard
            let id = state.withLock({ state -> UInt64? in
                guard !state.stopped else { return nil }
                state.nextTaskID += 1
                return state.nextTaskID
            })
        else { return }
        let task = Task.detached(executorPreference: executor) { [weak self] in
            guard let self else { return }
            await body(self)
            self.state.withLock { state in
                if state.tasks.removeValue(forKey: id) == nil { state.endedEarly.insert(id) }
            }
        }
        let cancel = state.withLock { state in
            if state.endedEarly.remove(id) != nil { return false }
            if state.stopped { return true }
            state.tasks[id] = task
            return false
        }
        if cancel { task.cancel() }
    }

    /// Parses and counts a query; `nil` for anything that is not one.
    private func accept(_ bytes: [UInt8], overTCP: Bool) -> (DNSMessage, MockDNSBehavior)? {
        guard let query = try? DNSMessage(decoding: bytes), !query.header.isResponse,
            let question = query.questions.first
        else { return nil }
        let behavior: MockDNSBehavior = state.withLock { state in
            state.total += 1
            if overTCP { state.tcp += 1 }
            state.counts[Key(name: question.name, type: question.type), default: 0] += 1
            let exact = Key(name: question.name, type: question.type)
            let any = Key(name: question.name, type: nil)
            let key = state.behaviors[exact] != nil ? exact : any
            guard let behavior = state.behaviors[key] else { return .answer }
            if case .sequence(let steps) = behavior {
                guard !steps.isEmpty else { return .answer }
                let position = state.sequencePositions[key] ?? 0
                state.sequencePositions[key] = position + 1
                return steps[min(position, steps.count - 1)]
            }
            return behavior
        }
        return (query, behavior)
    }

    private func handleUDP(_ bytes: [UInt8], from source: SocketAddress) async {
        guard let (query, behavior) = accept(bytes, overTCP: false) else { return }
        if case .silence = behavior { return }
        if behavior.isImmediate, let reply = replies(to: query, behavior, overTCP: false).first {
            // The common case inline, from the receive loop: no task per query.
            try? await udp.send(reply.bytes, to: source, deadline: .now + .seconds(1))
            return
        }
        spawn { server in
            await server.perform(query, behavior, overTCP: false) { bytes, spoofed async in
                let socket = spoofed ? server.spoofer : server.udp
                try? await socket.send(bytes, to: source, deadline: .now + .seconds(1))
            }
        }
    }

    private func serveTCP(_ connection: TCPConnection) async {
        defer { connection.close() }
        var buffer: [UInt8] = []
        while !Task.isCancelled {
            while buffer.count < 2 || buffer.count < 2 + (Int(buffer[0]) << 8 | Int(buffer[1])) {
                guard
                    let count = try? await connection.read(
                        appendingTo: &buffer, deadline: .now + .seconds(10)),
                    count > 0
                else { return }
            }
            let length = Int(buffer[0]) << 8 | Int(buffer[1])
            let frame = Array(buffer[2..<(2 + length)])
            buffer.removeFirst(2 + length)
            guard let (query, behavior) = accept(frame, overTCP: true) else { continue }
            await perform(query, behavior, overTCP: true) { bytes, spoofed async in
                guard !spoofed else { return }
                var framed = [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)]
                framed.append(contentsOf: bytes)
                try? await connection.write(framed, deadline: .now + .seconds(2))
            }
        }
    }

    private struct Reply {
        var bytes: [UInt8]
        var spoofed = false
        var pause: Duration = .zero
    }

    private func perform(
        _ query: DNSMessage, _ behavior: MockDNSBehavior, overTCP: Bool,
        send: @Sendable ([UInt8], Bool) async -> Void
    ) async {
        var behavior = behavior
        while case .delayed(let delay, let next) = behavior {
            try? await Task.sleep(for: delay)
            behavior = next
        }
        if Task.isCancelled { return }
        for reply in replies(to: query, behavior, overTCP: overTCP) {
            if reply.pause > .zero { try? await Task.sleep(for: reply.pause) }
            await send(reply.bytes, reply.spoofed)
        }
    }

    /// The datagrams (or TCP frames) to send for `behavior`.
    private func replies(to query: DNSMessage, _ behavior: MockDNSBehavior, overTCP: Bool)
        -> [Reply]
    {
        let spoofPause = Duration.milliseconds(20)
        switch behavior {
        case .answer:
            return [Reply(bytes: fitted(answer(to: query), query: query, overTCP: overTCP))]
        case .nxdomain:
            return [Reply(bytes: negative(to: query, code: .nameError).encoded())]
        case .servfail:
            return [Reply(bytes: bare(query, code: .serverFailure).encoded())]
        case .refused:
            return [Reply(bytes: bare(query, code: .refused).encoded())]
        case .silence, .sequence:
            return []
        case .delayed(_, let next):
            return replies(to: query, next, overTCP: overTCP)
        case .truncated:
            if overTCP { return [Reply(bytes: answer(to: query).encoded())] }
            var reply = bare(query, code: .noError)
            reply.header.isTruncated = true
            return [Reply(bytes: reply.encoded())]
        case .wrongID, .wrongIDThenAnswer:
            var spoof = negative(to: query, code: .nameError)
            spoof.header.id = query.header.id ^ 0x5A5A
            let first = Reply(bytes: spoof.encoded())
            guard case .wrongIDThenAnswer = behavior else { return [first] }
            return [
                first,
                Reply(
                    bytes: fitted(answer(to: query), query: query, overTCP: overTCP),
                    pause: spoofPause),
            ]
        case .otherName, .otherNameThenAnswer:
            var spoof = negative(to: query, code: .nameError)
            if let other = try? DNSName("spoofed.invalid") { spoof.questions[0].name = other }
            let first = Reply(bytes: spoof.encoded())
            guard case .otherNameThenAnswer = behavior else { return [first] }
            return [
                first,
                Reply(
                    bytes: fitted(answer(to: query), query: query, overTCP: overTCP),
                    pause: spoofPause),
            ]
        case .wrongSourceThenAnswer:
            let spoof = negative(to: query, code: .nameError)
            if overTCP { return [Reply(bytes: answer(to: query).encoded())] }
            return [
                Reply(bytes: spoof.encoded(), spoofed: true),
                Reply(
                    bytes: fitted(answer(to: query), query: query, overTCP: overTCP),
                    pause: spoofPause),
            ]
        case .raw(let bytes):
            return [Reply(bytes: bytes)]
        case .rawWithQueryID(var bytes):
            if bytes.count >= 2 {
                bytes[0] = UInt8(query.header.id >> 8)
                bytes[1] = UInt8(query.header.id & 0xFF)
            }
            return [Reply(bytes: bytes)]
        }
    }

    /// Encodes `reply`, truncating it (TC, no records) when it exceeds what the client
    /// can take over UDP.
    private func fitted(_ reply: DNSMessage, query: DNSMessage, overTCP: Bool) -> [UInt8] {
        let bytes = reply.encoded()
        guard !overTCP else { return bytes }
        let limit =
            query.additionals.first(where: { $0.type == .opt }).map {
                max(Int($0.recordClass.rawValue), 512)
            } ?? 512
        guard bytes.count > limit else { return bytes }
        var truncated = bare(query, code: .noError)
        truncated.header.isTruncated = true
        return truncated.encoded()
    }

    private func bare(_ query: DNSMessage, code: DNSResponseCode) -> DNSMessage {
        var header = DNSHeader(id: query.header.id, flags: 0)
        header.isResponse = true
        header.recursionDesired = query.header.recursionDesired
        header.recursionAvailable = true
        header.responseCode = code
        return DNSMessage(header: header, questions: Array(query.questions.prefix(1)))
    }

    private func negative(to query: DNSMessage, code: DNSResponseCode, owner: DNSName? = nil)
        -> DNSMessage
    {
        var reply = bare(query, code: code)
        let (ttl, minimum) = state.withLock { ($0.soaTTL, $0.soaMinimum) }
        let zone = owner ?? query.questions.first?.name ?? .root
        let soa = DNSSOA(
            primary: (try? DNSName("ns.mock.invalid")) ?? .root,
            mailbox: (try? DNSName("hostmaster.mock.invalid")) ?? .root,
            serial: 1, refresh: 3600, retry: 600, expire: 86_400, minimum: minimum)
        reply.authorities = [.soa(zone, soa, ttl: ttl)]
        return reply
    }

    /// The recursive-server answer from the records: CNAMEs chased (8 links at most).
    private func answer(to query: DNSMessage) -> DNSMessage {
        guard let question = query.questions.first else { return bare(query, code: .formatError) }
        let records = state.withLock { $0.records }
        var answers: [DNSRecord] = []
        var current = question.name
        for _ in 0...8 {
            if let found = records[current]?[question.type], !found.isEmpty {
                answers.append(contentsOf: found)
                var reply = bare(query, code: .noError)
                reply.header.isAuthoritative = true
                reply.answers = answers
                return reply
            }
            guard question.type != .cname, let alias = records[current]?[.cname]?.first,
                case .cname(let target) = alias.data
            else { break }
            answers.append(alias)
            current = target
        }
        let exists = records[current] != nil
        var reply = negative(to: query, code: exists ? .noError : .nameError, owner: current)
        reply.answers = answers
        return reply
    }
}

extension MockDNSBehavior {
    /// Sent at once from the receive loop, without a task.
    fileprivate var isImmediate: Bool {
        switch self {
        case .answer, .nxdomain, .servfail, .refused, .truncated, .wrongID, .otherName, .raw,
            .rawWithQueryID:
            true
        default: false
        }
    }
}
