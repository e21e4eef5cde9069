import Sockets
import Synchronization

/// Sends queries to the configured recursive servers and returns checked answers.
///
/// Each UDP query goes out from a fresh connected socket on a kernel-random port with a
/// random 16-bit ID (RFC 5452); the kernel drops datagrams from any other source, and
/// this client drops, silently and while it keeps waiting, anything whose ID, question
/// name, type or class differ, or that is not a response. A truncated (TC) answer is
/// asked again over TCP with the 2-byte length prefix (RFC 7766). A timeout, SERVFAIL,
/// REFUSED or an unreachable server moves on to the next server; the list is walked
/// `attempts` times, each attempt bounded by the configured timeout and the caller's
/// deadline.
///
/// At most ``ResolverConfiguration/maximumConcurrentQueries`` attempts are in flight at
/// once across every query of one client (so of one ``MXResolver``): a burst of lookups
/// of many distinct names cannot take all of the process's file descriptors. An attempt
/// waits for a free slot within its own timeout; one that gets none in time fails as
/// that attempt's timeout (`timed-out`, never a "no").
///
/// ```swift
/// let client = DNSQueryClient(configuration: configuration)
/// let answer = try await client.resolve(try DNSName("example.com"), type: .mx,
///                                       deadline: .now + .seconds(3))
/// ```
public final class DNSQueryClient: Sendable {
    /// The servers and patience.
    public let configuration: ResolverConfiguration
    /// The event loop the sockets use.
    public let loop: EventLoop
    /// CNAME links followed before giving up.
    public static let maximumCNAMEChain = 8

    private let rotation = Atomic<Int>(0)
    private let servers: [SocketAddress]
    /// One permit per attempt in flight (its UDP socket, and the TCP one after TC).
    let slots: AsyncSemaphore
    private let sockets = Atomic<Int>(0)

    /// A client for `configuration`.
    public init(configuration: ResolverConfiguration, loop: EventLoop = .shared) {
        self.configuration = configuration
        self.loop = loop
        self.servers = configuration.usedNameservers
        self.slots = AsyncSemaphore(
            permits: configuration.effectiveMaximumConcurrentQueries, loop: loop)
    }

    /// Attempts in flight right now (each holds a socket), at most
    /// ``ResolverConfiguration/effectiveMaximumConcurrentQueries``.
    public var queriesInFlight: Int { slots.inUse }

    /// The most attempts ever in flight at once.
    public var peakQueriesInFlight: Int { slots.peak }

    /// Queries waiting right now for a free slot.
    public var queriesWaiting: Int { slots.waiting }

    /// Sockets (UDP, and TCP after a truncated answer) this client has open right now.
    public var openSockets: Int { sockets.load(ordering: .relaxed) }

    // MARK: Resolution (CNAMEs followed)

    /// Records of `type` for `name`, following CNAME chains (at most 8 links) within and
    /// across answers.
    /// - Throws: ``DNSQueryError`` when no definite answer could be had.
    public func resolve(
        _ name: DNSName, type: DNSRecordType, deadline: ContinuousClock.Instant
    ) async throws(DNSQueryError) -> DNSResolution {
        var current = name
        var links = 0
        var chainTTL = UInt32.max
        var seen: Set<DNSName> = [name]
        while true {
            let message = try await query(current, type: type, deadline: deadline)
            var progressed = false
            while true {
                let matching = message.answers.filter { $0.name == current && $0.type == type }
                if !matching.isEmpty {
                    let ttl = matching.reduce(chainTTL) { min($0, $1.ttl) }
                    return DNSResolution(
                        name: name, canonicalName: current, responseCode: .noError,
                        records: matching, ttl: ttl)
                }
                guard type != .cname,
                    let alias = message.answers.first(where: {
                        $0.name == current && $0.type == .cname
                    }),
                    case .cname(let target) = alias.data
                else { break }
                links += 1
                guard links <= Self.maximumCNAMEChain, seen.insert(target).inserted else {
                    throw DNSQueryError(
                        .cnameChainTooLong,
                        "the CNAME chain from \(name) is longer than \(Self.maximumCNAMEChain) links or loops"
                    )
                }
                chainTTL = min(chainTTL, alias.ttl)
                current = target
                progressed = true
            }
            let code = message.header.responseCode
            // A chain that stopped at a target with no data and NOERROR may mean the
            // server did not chase it: ask for the target itself (bounded by `links`).
            if progressed, code == .noError { continue }
            let negative = message.authorities.lazy.compactMap { record -> UInt32? in
                guard case .soa(let soa) = record.data else { return nil }
                return min(record.ttl, soa.minimum)
            }.first
            return DNSResolution(
                name: name, canonicalName: current, responseCode: code, records: [],
                ttl: negative.map { min($0, chainTTL) })
        }
    }

    // MARK: One question, every server

    /// Asks every server in turn (`attempts` rounds) until one gives NOERROR or NXDOMAIN.
    /// - Returns: the checked response (RCODE NOERROR or NXDOMAIN).
    public func query(
        _ name: DNSName, type: DNSRecordType, deadline: ContinuousClock.Instant
    ) async throws(DNSQueryError) -> DNSMessage {
        guard !servers.isEmpty else {
            throw DNSQueryError(.noNameservers, "no name server is configured")
        }
        let start =
            configuration.rotate ? rotation.add(1, ordering: .relaxed).oldValue % servers.count : 0
        let timeout = configuration.effectiveTimeout
        var failures: [String] = []
        var lastCode = DNSQueryError.Code.timedOut
        for _ in 0..<configuration.effectiveAttempts {
            for index in 0..<servers.count {
                let server = servers[(start + index) % servers.count]
                let now = ContinuousClock.now
                guard now < deadline else {
                    throw DNSQueryError(
                        .timedOut,
                        summary("the deadline passed while asking for \(type) \(name)", failures))
                }
                if Task.isCancelled {
                    throw DNSQueryError(.cancelled, "the lookup of \(type) \(name) was cancelled")
                }
                let attemptDeadline = min(now + timeout, deadline)
                // Waiting for a slot is part of the attempt: a query that gets none in
                // time has timed out like one the server did not answer.
                guard await slots.acquire(deadline: attemptDeadline) else {
                    if Task.isCancelled {
                        throw DNSQueryError(
                            .cancelled, "the lookup of \(type) \(name) was cancelled")
                    }
                    lastCode = .timedOut
                    failures.append(
                        "no query slot came free in time (\(slots.permits) queries in flight)")
                    continue
                }
                do {
                    defer { slots.release() }
                    return try await attempt(
                        name, type: type, server: server, deadline: attemptDeadline)
                } catch {
                    if error.code == .cancelled || error.code == .localFailure { throw error }
                    lastCode = error.code
                    failures.append(error.message)
                }
            }
        }
        throw DNSQueryError(lastCode, summary("no server answered \(type) \(name)", failures))
    }

    private func summary(_ head: String, _ failures: [String]) -> String {
        guard !failures.isEmpty else { return head }
        var unique: [String] = []
        for failure in failures where !unique.contains(failure) { unique.append(failure) }
        return head + ": " + unique.prefix(3).joined(separator: "; ")
    }

    /// One UDP exchange with `server` (and TCP if the answer is truncated).
    func attempt(
        _ name: DNSName, type: DNSRecordType, server: SocketAddress,
        deadline: ContinuousClock.Instant
    ) async throws(DNSQueryError) -> DNSMessage {
        var generator = SystemRandomNumberGenerator()
        let id = UInt16.random(in: .min ... .max, using: &generator)
        let question = DNSQuestion(name: name, type: type)
        let query = DNSMessage.query(id: id, name: name, type: type).encoded(compress: false)
        let socket: UDPSocket
        do {
            socket = try UDPSocket.connect(to: server, loop: loop)
        } catch {
            throw map(error, server)
        }
        sockets.add(1, ordering: .relaxed)
        defer {
            socket.close()
            sockets.subtract(1, ordering: .relaxed)
        }
        var malformed: DNSWireError?
        do {
            try await socket.send(query, deadline: deadline)
            while true {
                let (datagram, source) = try await socket.receive(
                    maxBytes: Self.receiveSize, deadline: deadline)
                // The connected socket already filters sources; belt and braces.
                guard source == server else { continue }
                switch check(datagram, id: id, question: question) {
                case .ignore:
                    continue
                case .malformed(let error):
                    // Our ID but not decodable: a datagram cut at our buffer size, or one
                    // with TC set that a server cut in the middle of a record, is
                    // retried over TCP; otherwise remember it and keep listening, so a
                    // spoofer who guessed the ID cannot end the wait.
                    if datagram.count >= Self.receiveSize || datagram[2] & 0x02 != 0 {
                        return try await tcpAttempt(
                            query, id: id, question: question, server: server, deadline: deadline)
                    }
                    malformed = error
                    continue
                case .answer(let message):
                    if message.header.isTruncated {
                        return try await tcpAttempt(
                            query, id: id, question: question, server: server, deadline: deadline)
                    }
                    return try accept(message, server: server)
                }
            }
        } catch let error as SocketError {
            if error.code == .timedOut, let malformed {
                throw DNSQueryError(
                    .malformedResponse, "\(server) sent an undecodable answer: \(malformed)")
            }
            throw map(error, server)
        } catch let error as DNSQueryError {
            throw error
        } catch {
            throw DNSQueryError(.localFailure, "\(error)")
        }
    }

    static let receiveSize = 4096

    /// The same query over TCP, 2-byte length prefix.
    func tcpAttempt(
        _ query: [UInt8], id: UInt16, question: DNSQuestion, server: SocketAddress,
        deadline: ContinuousClock.Instant
    ) async throws(DNSQueryError) -> DNSMessage {
        let connection: TCPConnection
        do {
            connection = try await TCPConnection.connect(to: server, deadline: deadline, loop: loop)
        } catch {
            throw map(error, server, tcp: true)
        }
        sockets.add(1, ordering: .relaxed)
        defer {
            connection.close()
            sockets.subtract(1, ordering: .relaxed)
        }
        do {
            var framed: [UInt8] = [UInt8(query.count >> 8), UInt8(query.count & 0xFF)]
            framed.append(contentsOf: query)
            try await connection.write(framed, deadline: deadline)
            var buffer: [UInt8] = []
            while true {
                // Several answers may come on one connection; only ours is taken.
                while buffer.count < 2 || buffer.count < 2 + (Int(buffer[0]) << 8 | Int(buffer[1]))
                {
                    let count = try await connection.read(
                        appendingTo: &buffer, maxBytes: 16 * 1024, deadline: deadline)
                    if count == 0 {
                        throw DNSQueryError(
                            .unreachable, "\(server) closed the TCP connection before answering")
                    }
                }
                let length = Int(buffer[0]) << 8 | Int(buffer[1])
                let frame = Array(buffer[2..<(2 + length)])
                buffer.removeFirst(2 + length)
                switch check(frame, id: id, question: question) {
                case .ignore: continue
                case .malformed(let error):
                    throw DNSQueryError(
                        .malformedResponse,
                        "\(server) sent an undecodable answer over TCP: \(error)")
                case .answer(let message):
                    // TC over TCP: even the stream could not carry the whole answer, so
                    // what is here may lack records. An empty section would otherwise
                    // read as NODATA, a definite "no" (scenario 3) from a partial reply.
                    guard !message.header.isTruncated else {
                        throw DNSQueryError(
                            .malformedResponse, "\(server) sent a truncated answer over TCP")
                    }
                    return try accept(message, server: server)
                }
            }
        } catch let error as SocketError {
            throw map(error, server, tcp: true)
        } catch let error as DNSQueryError {
            throw error
        } catch {
            throw DNSQueryError(.localFailure, "\(error)")
        }
    }

    enum Check {
        case ignore
        case malformed(DNSWireError)
        case answer(DNSMessage)
    }

    /// Whether `bytes` answer our question: anything else is ignored.
    func check(_ bytes: [UInt8], id: UInt16, question: DNSQuestion) -> Check {
        guard bytes.count >= 12 else { return .ignore }
        let receivedID = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        guard receivedID == id, bytes[2] & 0x80 != 0 else { return .ignore }
        let message: DNSMessage
        do {
            message = try DNSMessage(decoding: bytes)
        } catch {
            return .malformed(error)
        }
        guard message.header.opcode == 0, message.questions.count == 1,
            message.questions[0] == question
        else {
            return .ignore
        }
        return .answer(message)
    }

    /// Passes NOERROR and NXDOMAIN; any other RCODE is this server's failure, and so is a
    /// referral (NOERROR, no answer, NS records and no SOA in the authority section): a
    /// server that does not recurse for us, not a NODATA (RFC 2308 §2.2.1).
    func accept(_ message: DNSMessage, server: SocketAddress) throws(DNSQueryError) -> DNSMessage {
        // EDNS0 (RFC 6891 §6.1.3): the OPT record holds the upper 8 bits of a 12-bit
        // RCODE. BADVERS and the like leave the header's 4 bits at 0, which must not pass
        // for NOERROR with an empty answer (NODATA).
        if let opt = message.additionals.first(where: { $0.type == .opt }), opt.ttl >> 24 != 0 {
            let code = (opt.ttl >> 24) << 4 | UInt32(message.header.responseCode.rawValue)
            throw DNSQueryError(.serverFailure, "\(server) answered extended RCODE \(code)")
        }
        switch message.header.responseCode {
        case .noError:
            if message.answers.isEmpty,
                message.authorities.contains(where: { $0.type == .ns }),
                !message.authorities.contains(where: { $0.type == .soa })
            {
                throw DNSQueryError(
                    .referral, "\(server) sent a referral instead of an answer (not recursive?)")
            }
            return message
        case .nameError:
            return message
        case .refused:
            throw DNSQueryError(.refused, "\(server) answered REFUSED")
        default:
            throw DNSQueryError(.serverFailure, "\(server) answered \(message.header.responseCode)")
        }
    }

    func map(_ error: SocketError, _ server: SocketAddress, tcp: Bool = false) -> DNSQueryError {
        let over = tcp ? " over TCP" : ""
        switch error.code {
        case .timedOut: return DNSQueryError(.timedOut, "\(server) did not answer\(over) in time")
        case .cancelled: return DNSQueryError(.cancelled, "the query to \(server) was cancelled")
        case .connectionRefused:
            return DNSQueryError(
                .unreachable, "\(server) refused the query\(over) (port unreachable)")
        case .unreachable, .connectionReset, .invalidAddress, .invalidArgument, .other, .closed:
            return DNSQueryError(.unreachable, "\(server) is unreachable\(over): \(error.message)")
        default: return DNSQueryError(.localFailure, "querying \(server)\(over): \(error)")
        }
    }
}
