import SMTPClient
import Sockets

/// An in-process SMTP server on loopback for tests: port 0, scriptable per step
/// (``MockSMTPScript``), and recording every session, transaction and delivered message.
///
/// ```swift
/// var script = MockSMTPScript()
/// script.recipients["nobody@example.com"] = .reply(550, "5.1.1 no such user")
/// let server = try MockSMTPServer.start(script)
/// defer { server.stop() }
/// // ... point an SMTPSession at server.address ...
/// #expect(server.deliveryCount == 1)
/// #expect(server.deliveries[0].text.contains("Subject: Welcome"))
/// ```
///
/// Pipelined commands are answered together: the server handles every complete line of a
/// read, then writes the replies in one write (after ``MockSMTPScript/replyDelay``).
/// Commands: EHLO, HELO, STARTTLS (with ``MockSMTPScript/offersStartTLS``), AUTH (PLAIN,
/// LOGIN), MAIL, RCPT, DATA, RSET, NOOP, QUIT; anything else gets `500 5.5.1`.
public final class MockSMTPServer: Sendable {
    private struct State {
        var script: MockSMTPScript
        var sessions: [MockSMTPSessionRecord] = []
        var transactions: [MockSMTPTransaction] = []
        var deliveries: [MockSMTPDelivery] = []
        var greylist: [String: ContinuousClock.Instant] = [:]
        var connections: [Int: TCPConnection] = [:]
        var nextID = 1
        var stopped = false
    }

    private let listener: TCPListener
    private let state: Lock<State>
    private let acceptor: Lock<Task<Void, Never>?> = Lock(nil)

    /// The address to connect to (127.0.0.1 and the port the kernel chose).
    public var address: SocketAddress { listener.localAddress }
    /// The port the kernel chose.
    public var port: Int { listener.localAddress.port }

    private init(listener: TCPListener, script: MockSMTPScript) {
        self.listener = listener
        self.state = Lock(State(script: script))
    }

    /// Binds to `host` (loopback) on a free port and starts accepting.
    /// - Parameters:
    ///   - script: what to answer.
    ///   - host: `127.0.0.1` or `::1` (any loopback address).
    ///   - port: `0` for a free one; another server's port to listen beside it on another
    ///     address (an MX host with an A and an AAAA record: one SMTP port for both).
    ///   - executor: where the connection tasks run (e.g. `EventLoop.shared` in benchmarks).
    /// - Throws: `.invalidAddress` for a host outside 127.0.0.0/8 and ::1: a mock server,
    ///   which records messages and accepts any AUTH, never listens beyond this machine.
    public static func start(
        _ script: MockSMTPScript = MockSMTPScript(), host: String = "127.0.0.1", port: Int = 0,
        loop: EventLoop = .shared, executor: (any TaskExecutor)? = nil
    ) throws(SocketError) -> MockSMTPServer {
        let address = try SocketAddress(ip: host, port: port)
        guard address.isLoopback else {
            throw SocketError(.invalidAddress, "MockSMTPServer listens on loopback only, not \(host)")
        }
        let listener = try TCPListener.bind(to: address, backlog: 4096, loop: loop)
        let server = MockSMTPServer(listener: listener, script: script)
        // The accept loop holds the server weakly: a server a test forgot to stop is
        // freed, and its deinit stops it (listener, connections, this task).
        let task = Task(executorPreference: executor) { [listener, weak server] in
            await withDiscardingTaskGroup { group in
                while let connection = try? await listener.acceptWaitingOutFDShortage() {
                    guard let server else {
                        connection.close()
                        return
                    }
                    group.addTask { await server.serve(connection) }
                }
            }
        }
        server.acceptor.withLock { $0 = task }
        return server
    }

    /// Starts a server whose script is the default changed by `configure`.
    ///
    /// ```swift
    /// let server = try MockSMTPServer.start { $0.rcpt = .reply(550, "5.1.1 no such user") }
    /// ```
    public static func start(configure: (inout MockSMTPScript) -> Void) throws(SocketError) -> MockSMTPServer {
        var script = MockSMTPScript()
        configure(&script)
        return try start(script)
    }

    /// Stops listening and closes every open connection. Idempotent.
    public func stop() {
        let connections = state.withLock { state -> [TCPConnection] in
            state.stopped = true
            defer { state.connections = [:] }
            return Array(state.connections.values)
        }
        listener.close()
        for connection in connections { connection.close() }
        acceptor.withLock { $0?.cancel() }
    }

    deinit { stop() }

    /// The script in force; change it with ``update(_:)`` (applies to the next command).
    public var script: MockSMTPScript { state.withLock { $0.script } }

    /// Changes the script, e.g. between two attempts of a test.
    public func update(_ change: (inout MockSMTPScript) -> Void) {
        state.withLock { change(&$0.script) }
    }

    /// Every connection so far, in accept order.
    public var sessions: [MockSMTPSessionRecord] { state.withLock { $0.sessions } }
    /// Every MAIL transaction so far.
    public var transactions: [MockSMTPTransaction] { state.withLock { $0.transactions } }
    /// Every accepted message so far.
    public var deliveries: [MockSMTPDelivery] { state.withLock { $0.deliveries } }
    /// How many messages were accepted: assert exactly-once delivery with it.
    public var deliveryCount: Int { state.withLock { $0.deliveries.count } }
    /// How many connections were accepted.
    public var connectionCount: Int { state.withLock { $0.sessions.count } }

    /// Waits (bounded by `timeout`) until every accepted connection has ended; returns
    /// whether they all did.
    @discardableResult
    public func waitUntilIdle(timeout: Duration = .seconds(2)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if state.withLock({ $0.sessions.allSatisfy(\.ended) }) { return true }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return false
    }

    // MARK: Serving one connection

    private struct Connection {
        let id: Int
        var heloName: String?
        var from: String?
        var fromParameters: [String] = []
        var recipients: [String] = []
        var transactionIndex: Int?
        var inData = false
        var data: [UInt8] = []
        var wireData: [UInt8] = []
        var authLogin: Int = 0  // 1: waiting for user, 2: waiting for password
        var authUser = ""
        var silent = false
        /// A 220 to STARTTLS is on its way: the handshake follows it.
        var startingTLS = false
        var overTLS = false
    }

    private enum Outcome { case keepGoing, close, reset }

    private func serve(_ tcp: TCPConnection) async {
        let connection = tcp
        var stream: any ByteStream = tcp
        let id: Int? = state.withLock { state in
            guard !state.stopped else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.connections[id] = connection
            state.sessions.append(MockSMTPSessionRecord(id: id, client: connection.remoteAddress))
            return id
        }
        defer {
            connection.close()
            if let id {
                state.withLock { state in
                    state.connections[id] = nil
                    // Sessions are appended in id order, so the index is id - 1.
                    if id - 1 < state.sessions.count { state.sessions[id - 1].ended = true }
                }
            }
        }
        guard let id else { return }
        var session = Connection(id: id)
        let current = script
        switch await respond([current.greeting], on: stream, session: &session, batchDelay: current.replyDelay) {
        case .keepGoing: break
        case .close: return
        case .reset: return connection.closeWithReset()
        }

        var buffer: [UInt8] = []
        var start = 0
        var chunk: [UInt8] = []
        while true {
            chunk.removeAll(keepingCapacity: true)
            let idle = script.idleTimeout
            guard let count = try? await stream.read(appendingTo: &chunk, maxBytes: 64 * 1024, deadline: .now + idle),
                  count > 0 else { return }
            let (record, delay) = state.withLock { state in
                (state.script.recordsReads, state.script.replyDelay)
            }
            if record { self.record(id) { $0.reads.append(chunk) } }
            if session.silent { continue }
            if start > 0 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            buffer.append(contentsOf: chunk)
            var responses: [MockSMTPResponse] = []
            var closeAfter = false
            // Every complete line.
            while let lf = buffer[start...].firstIndex(of: 0x0A) {
                let line = Array(buffer[start...lf])
                start = lf + 1
                if session.inData {
                    if session.overTLS, script.tlsAlertMidData {
                        await Self.sendFatalAlert(on: connection)
                        return
                    }
                    if let response = dataLine(line, session: &session) { responses.append(response) }
                    continue
                }
                var text = line
                while let last = text.last, last == 0x0A || last == 0x0D { text.removeLast() }
                let (response, quit) = command(String(decoding: text, as: UTF8.self), session: &session)
                if let response { responses.append(response) }
                if quit {
                    closeAfter = true
                    break
                }
                if session.startingTLS {
                    // RFC 3207 §4: the server discards whatever came after STARTTLS.
                    let surplus = buffer.count - start
                    self.record(id) { $0.bytesPipelinedAfterStartTLS += surplus }
                    buffer.removeAll()
                    start = 0
                    break
                }
            }
            if !responses.isEmpty {
                switch await respond(responses, on: stream, session: &session, batchDelay: delay) {
                case .keepGoing: break
                case .close: return
                case .reset: return connection.closeWithReset()
                }
            }
            if closeAfter { return }
            if session.startingTLS {
                session.startingTLS = false
                guard let secured = await startTLS(on: connection, session: &session) else { return }
                stream = secured
            }
        }
    }

    /// The handshake after the 220 to STARTTLS, as the script says; `nil`: close.
    private func startTLS(on connection: TCPConnection, session: inout Connection) async -> (any ByteStream)? {
        let script = self.script
        let commandCount = state.withLock { $0.sessions[session.id - 1].commands.count }
        record(session.id) { $0.commandsBeforeTLS = commandCount }
        #if OpenSSL
        let deadline = ContinuousClock.now + script.idleTimeout
        let padding: Int
        switch script.tlsHandshake {
        case .closeAfterReply:
            return nil
        case .fail:
            var hello: [UInt8] = []
            _ = try? await connection.read(appendingTo: &hello, maxBytes: 64 * 1024, deadline: deadline)
            _ = try? await connection.write(Array("this is not TLS\r\n".utf8), deadline: deadline)
            return nil
        case .neverFinish:
            var sink: [UInt8] = []
            while let count = try? await connection.read(appendingTo: &sink, maxBytes: 64 * 1024, deadline: deadline),
                count > 0
            {
                sink.removeAll(keepingCapacity: true)
            }
            return nil
        case .normal: padding = 0
        case .hugeCertificate(let bytes): padding = bytes
        }
        // The handshake is one more round trip (TLS 1.3's full handshake is one), so it
        // waits like a batch of replies: benchmarks count it as one wait.
        if script.replyDelay > .zero { try? await Task.sleep(for: script.replyDelay) }
        guard let context = try? MockTLSCertificate.serverContext(
            paddingBytes: padding, sessionTickets: script.tlsSessionTickets),
            let tls = try? await TLSStream.accept(over: connection, context: context, deadline: deadline)
        else { return nil }
        record(session.id) {
            $0.tls = MockTLSRecord(version: tls.protocolVersion, cipher: tls.cipher, serverName: tls.serverName)
        }
        // RFC 3207 §4.2: the server forgets what it learned from the client before TLS.
        session.overTLS = true
        session.heloName = nil
        resetTransaction(&session)
        return tls
        #else
        _ = script
        return nil
        #endif
    }

    /// A fatal `unexpected_message` alert, in plaintext, where only TLS records may come.
    private static func sendFatalAlert(on connection: TCPConnection) async {
        _ = try? await connection.write([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x0A], deadline: .now + .seconds(1))
    }

    /// Writes a batch of responses: plain ones together in one write.
    private func respond(
        _ responses: [MockSMTPResponse], on connection: any ByteStream, session: inout Connection, batchDelay: Duration
    ) async -> Outcome {
        if batchDelay > .zero { try? await Task.sleep(for: batchDelay) }
        var pending: [UInt8] = []
        func flush() async -> Bool {
            guard !pending.isEmpty else { return true }
            defer { pending.removeAll() }
            return (try? await connection.write(pending, deadline: .now + .seconds(5))) != nil
        }
        for response in responses {
            if response.delay > .zero {
                guard await flush() else { return .close }
                try? await Task.sleep(for: response.delay)
            }
            switch response.behavior {
            case .normal:
                pending.append(contentsOf: response.wireBytes)
            case .oneByteAtATime:
                guard await flush() else { return .close }
                for byte in response.wireBytes {
                    guard (try? await connection.write([byte], deadline: .now + .seconds(5))) != nil else { return .close }
                    try? await Task.sleep(for: .microseconds(200))
                }
            case .closeMidReply:
                let bytes = response.wireBytes
                pending.append(contentsOf: bytes.prefix(max(1, bytes.count / 2)))
                _ = await flush()
                return .close
            case .close:
                _ = await flush()
                return .close
            case .reset:
                // Earlier replies of the batch are written first (the peer may still
                // lose them: an RST discards what it has not read yet).
                _ = await flush()
                return .reset
            case .silence:
                _ = await flush()
                session.silent = true
                return .keepGoing
            case .garbage(let bytes):
                pending.append(contentsOf: bytes)
            case .followedBy(let surplus):
                pending.append(contentsOf: response.wireBytes + surplus)
            }
        }
        return await flush() ? .keepGoing : .close
    }

    private func record(_ id: Int, _ change: (inout MockSMTPSessionRecord) -> Void) {
        state.withLock { state in
            // Sessions are appended in id order, so the index is id - 1.
            let index = id - 1
            if index < state.sessions.count, state.sessions[index].id == id { change(&state.sessions[index]) }
        }
    }

    /// One line inside DATA; returns the end-of-data response after the final dot.
    private func dataLine(_ line: [UInt8], session: inout Connection) -> MockSMTPResponse? {
        session.wireData.append(contentsOf: line)
        // Only CRLF ends a line in DATA; a bare LF is data.
        let isCRLF = line.count >= 2 && line[line.count - 2] == 0x0D
        if isCRLF && line.count == 3 && line[0] == 0x2E {
            session.inData = false
            let response = session.recipients.isEmpty ? .reply(554, "5.5.1 no valid recipients") : script.endOfData
            let delivered: Bool
            switch response.behavior {
            case .normal, .oneByteAtATime, .followedBy: delivered = (200..<300).contains(response.code)
            default: delivered = false
            }
            state.withLock { state in
                if delivered {
                    state.deliveries.append(MockSMTPDelivery(
                        sessionID: session.id, from: session.from ?? "", to: session.recipients,
                        mailParameters: session.fromParameters, data: session.data, wireData: session.wireData))
                }
                if let index = session.transactionIndex { state.transactions[index].delivered = delivered }
            }
            session.data = []
            session.wireData = []
            resetTransaction(&session)
            return response
        }
        if isCRLF, line.first == 0x2E {
            session.data.append(contentsOf: line.dropFirst())
        } else {
            session.data.append(contentsOf: line)
        }
        return nil
    }

    private func resetTransaction(_ session: inout Connection) {
        session.from = nil
        session.fromParameters = []
        session.recipients = []
        session.transactionIndex = nil
    }

    /// Handles one command; returns its response and whether to close afterwards.
    private func command(_ line: String, session: inout Connection) -> (MockSMTPResponse?, Bool) {
        record(session.id) { $0.commands.append(line) }
        let script = self.script
        if session.authLogin > 0 {
            return (authLoginStep(line, session: &session, script: script), false)
        }
        let verb = line.prefix(while: { $0 != " " }).uppercased()
        let argument = line.drop(while: { $0 != " " }).dropFirst()
        switch verb {
        case "EHLO":
            session.heloName = String(argument)
            record(session.id) { $0.heloName = String(argument) }
            resetTransaction(&session)
            return (script.ehloResponse(heloName: String(argument), overTLS: session.overTLS), false)
        case "HELO":
            session.heloName = String(argument)
            record(session.id) { $0.heloName = String(argument) }
            resetTransaction(&session)
            return (script.helo, false)
        case "AUTH":
            return (auth(String(argument), session: &session, script: script), false)
        case "STARTTLS":
            guard script.offersStartTLS, !session.overTLS else {
                return (.reply(503, "5.5.1 STARTTLS not offered"), false)
            }
            if script.startTLS.code == 220 && script.startTLS.behavior == .normal {
                session.startingTLS = true
                if !script.injectedAfterStartTLS.isEmpty {
                    return (.garbage(String(decoding: script.startTLS.wireBytes + script.injectedAfterStartTLS, as: UTF8.self)), false)
                }
            }
            return (script.startTLS, false)
        case "MAIL":
            if script.requiresTLS && !session.overTLS {
                return (.reply(530, "5.7.0 Must issue a STARTTLS command first"), false)
            }
            guard let (address, parameters) = Self.path(after: "FROM:", in: line) else {
                return (.reply(501, "5.5.4 syntax: MAIL FROM:<address>"), false)
            }
            let response = script.mail
            if (200..<300).contains(response.code) {
                session.from = address
                session.fromParameters = parameters
                session.recipients = []
                state.withLock { state in
                    state.transactions.append(MockSMTPTransaction(sessionID: session.id, mailFrom: address, mailParameters: parameters))
                    session.transactionIndex = state.transactions.count - 1
                }
            }
            return (response, false)
        case "RCPT":
            guard let (address, _) = Self.path(after: "TO:", in: line) else {
                return (.reply(501, "5.5.4 syntax: RCPT TO:<address>"), false)
            }
            guard session.from != nil else { return (.reply(503, "5.5.1 MAIL first"), false) }
            var response = script.recipients[address.lowercased()] ?? script.rcpt
            if let wait = script.greylisting {
                let key = "\(session.from ?? "")|\(address)".lowercased()
                let now = ContinuousClock.now
                let first = state.withLock { state in
                    if let first = state.greylist[key] { return first }
                    state.greylist[key] = now
                    return now
                }
                if now - first < wait || first == now {
                    response = .reply(451, "4.7.1 greylisted, try again later")
                }
            }
            let accepted = (200..<300).contains(response.code) && response.behavior == .normal
            if accepted { session.recipients.append(address) }
            if let index = session.transactionIndex {
                state.withLock { state in
                    if accepted {
                        state.transactions[index].recipients.append(address)
                    } else {
                        state.transactions[index].refusedRecipients.append(address)
                    }
                }
            }
            return (response, false)
        case "DATA":
            guard session.from != nil, !session.recipients.isEmpty || script.dataWithoutRecipients else {
                return (.reply(554, "5.5.1 no valid recipients"), false)
            }
            let response = script.data
            if (300..<400).contains(response.code) {
                session.inData = true
                session.data = []
                session.wireData = []
            }
            return (response, false)
        case "RSET":
            resetTransaction(&session)
            return (.reply(250, "2.0.0 OK"), false)
        case "NOOP":
            return (.reply(250, "2.0.0 OK"), false)
        case "QUIT":
            return (script.quit, true)
        default:
            return (.reply(500, "5.5.1 command not recognized"), false)
        }
    }

    private func auth(_ argument: String, session: inout Connection, script: MockSMTPScript) -> MockSMTPResponse {
        guard let expected = script.credentials else { return .reply(502, "5.5.1 AUTH not offered") }
        let parts = argument.split(separator: " ")
        switch parts.first?.uppercased() {
        case "PLAIN":
            guard parts.count == 2, let decoded = Base64.decode(String(parts[1])) else {
                return .reply(501, "5.5.2 bad AUTH PLAIN data")
            }
            let fields = decoded.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            if fields.count == 3, fields[1] == expected.username, fields[2] == expected.password {
                record(session.id) { $0.authenticatedAs = expected.username }
                return .reply(235, "2.7.0 authenticated")
            }
            return .reply(535, "5.7.8 authentication failed")
        case "LOGIN":
            session.authLogin = 1
            return .reply(334, "VXNlcm5hbWU6")
        default:
            return .reply(504, "5.5.4 mechanism not supported")
        }
    }

    private func authLoginStep(_ line: String, session: inout Connection, script: MockSMTPScript) -> MockSMTPResponse {
        let value = Base64.decode(line).map { String(decoding: $0, as: UTF8.self) } ?? ""
        if session.authLogin == 1 {
            session.authUser = value
            session.authLogin = 2
            return .reply(334, "UGFzc3dvcmQ6")
        }
        session.authLogin = 0
        if let expected = script.credentials, session.authUser == expected.username, value == expected.password {
            record(session.id) { $0.authenticatedAs = expected.username }
            return .reply(235, "2.7.0 authenticated")
        }
        return .reply(535, "5.7.8 authentication failed")
    }

    /// The `>` that closes a path starting with `<`: a quoted local part may hold `>`
    /// (and `\>`), as in `<"a>b"@example.com>`.
    static func closingBracket(of path: Substring) -> Substring.Index? {
        var quoted = false
        var escaped = false
        for index in path.indices.dropFirst() {
            let character = path[index]
            if escaped {
                escaped = false
            } else if quoted && character == "\\" {
                escaped = true
            } else if character == "\"" {
                quoted.toggle()
            } else if character == ">" && !quoted {
                return index
            }
        }
        return nil
    }

    /// `MAIL FROM:<a@b> SIZE=1` → ("a@b", ["SIZE=1"]).
    static func path(after keyword: String, in line: String) -> (String, [String])? {
        let argument = line.drop(while: { $0 != " " }).dropFirst()
        guard argument.uppercased().hasPrefix(keyword) else { return nil }
        let rest = argument.dropFirst(keyword.count).drop(while: { $0 == " " })
        guard rest.first == "<", let close = closingBracket(of: rest) else { return nil }
        let address = String(rest[rest.index(after: rest.startIndex)..<close])
        let parameters = rest[rest.index(after: close)...].split(separator: " ").map(String.init)
        return (address, parameters)
    }
}
