import Sockets

/// One SMTP connection to one server: a thin actor that runs ``SMTPClientStateMachine``
/// over a ``Sockets/TCPConnection`` with a timeout per step.
///
/// ```swift
/// let session = SMTPSession(server: try SocketAddress(ip: "192.0.2.25", port: 25),
///                           configuration: try SMTPSessionConfiguration(heloName: "app.example"))
/// if let failure = await session.open(tls: .opportunistic, serverName: "mx.example.com") {
///     return failure                                   // connect, greeting, EHLO, STARTTLS
/// }
/// let result = await session.send(from: sender, to: recipient, data: message.encoded())
/// ```
///
/// - ``open(tls:serverName:)`` connects, reads the greeting, sends EHLO (HELO when EHLO
///   gets 500/502), STARTTLS when the ``TLSPolicy`` says so (then EHLO again over TLS) and,
///   with credentials, AUTH PLAIN or LOGIN (only over TLS). It returns `nil` when the
///   session is ready, else why not (``SMTPResult/reason`` says which TLS rule stopped it).
///   Cancelling its task ends it at once (``SMTPVerdict/unreachable``). ``tls`` reports
///   the negotiated version and cipher.
/// - ``send(from:to:data:)`` and ``probe(from:to:)`` run one transaction (pipelined when
///   the server offers PIPELINING). Once the verdict is known the session sends QUIT (a
///   probe sends RSET and QUIT) without waiting for the reply and closes the connection:
///   one transaction per session, QUIT never on the critical path.
/// - A connection that closes, times out or talks garbage inside the transaction is a
///   ``SMTPVerdict/temporaryFailure`` (RFC 5321 §3.8: as 451).
public actor SMTPSession {
    private enum State { case new, opening, ready, busy, closed }

    /// The server this session talks to.
    public nonisolated let server: SocketAddress
    /// The configuration it was made with.
    public nonisolated let configuration: SMTPSessionConfiguration
    private let loop: EventLoop
    /// The server as the transcript names it, made once.
    private let serverLabel: String
    private let started = ContinuousClock.now
    private var state = State.new
    /// The TCP connection, or the TLS stream over it after STARTTLS.
    private var connection: (any ByteStream)?
    private var serverName: String?
    private var machine: SMTPClientStateMachine
    private var parser = SMTPReplyParser()
    private var spare: [UInt8] = []
    private var openResult: SMTPResult?
    private var stepStarted = ContinuousClock.now

    /// Every command and reply so far, credentials redacted, message bodies as byte counts.
    public private(set) var transcript: [TranscriptEntry] = []
    /// The time each step took: connect, greeting (from connect), and each command to its
    /// reply (commands of a pipelined group all count from the group's write).
    // Both tables are sized for every step at once: grown from empty as steps are
    // recorded, they were rehashed several times per session.
    public private(set) var timings = [SMTPStep: Duration](minimumCapacity: SMTPStep.allCases.count)
    /// The last reply received at each step (the greeting, EHLO, MAIL, RCPT, ...).
    public private(set) var replies = [SMTPStep: SMTPReply](minimumCapacity: SMTPStep.allCases.count)
    /// The verdict of the transaction (or of `open()` when it failed), once known.
    public private(set) var result: SMTPResult?

    /// - Parameters:
    ///   - server: the MX host's address and port.
    ///   - configuration: HELO name, timeouts and optional credentials.
    ///   - loop: the socket event loop.
    public init(server: SocketAddress, configuration: SMTPSessionConfiguration, loop: EventLoop = .shared) {
        self.server = server
        self.serverLabel = server.description
        self.configuration = configuration
        self.loop = loop
        self.machine = SMTPClientStateMachine(heloName: configuration.heloName, credentials: configuration.credentials)
    }

    /// The extensions the server announced in its EHLO reply (empty before, or after HELO;
    /// after STARTTLS, those of the EHLO sent over TLS).
    public var capabilities: SMTPCapabilities { machine.capabilities }

    /// The TLS version, cipher and timings once STARTTLS succeeded; `nil` for a plaintext
    /// session.
    public var tls: SMTPTLSInfo? { machine.tls }

    /// Whether this build can do TLS (the package trait `OpenSSL`).
    public static var tlsAvailable: Bool {
        #if OpenSSL
        true
        #else
        false
        #endif
    }

    /// Connect, 220 greeting, EHLO (HELO fallback), STARTTLS and EHLO again when the policy
    /// says so, AUTH when configured (only over TLS).
    /// - Parameters:
    ///   - tls: ``TLSPolicy/opportunistic`` (default): STARTTLS when offered, plaintext when
    ///     not offered or refused (454), the session's end when the handshake fails
    ///     (reason ``SMTPResult/Reason/tlsHandshakeFailed``: a new plaintext connection is
    ///     the caller's call). ``TLSPolicy/required``: no TLS, no transaction (reason
    ///     ``SMTPResult/Reason/tlsUnavailable``). ``TLSPolicy/off``: plaintext.
    ///   - serverName: the MX host name, sent as SNI (never an IP literal).
    /// - Returns: `nil` when ready for a transaction; otherwise why not (verdict
    ///   ``SMTPVerdict/unreachable`` or ``SMTPVerdict/senderRejected``). Returns promptly,
    ///   as `.unreachable`, when the task is cancelled. Called again: `nil` while the
    ///   session is ready or in its transaction, the first call's failure if opening
    ///   failed, `.unreachable` once the session is closed; a call made while another is
    ///   still opening is not waited for: it gets `.unreachable` at once and changes
    ///   nothing.
    public func open(tls: TLSPolicy = .opportunistic, serverName: String? = nil) async -> SMTPResult? {
        switch state {
        case .new: break
        case .ready, .busy: return nil
        case .opening:
            return SMTPResult(
                verdict: .unreachable, step: .connect,
                detail: "the session is already opening (another call is connecting it)")
        case .closed:
            return openResult ?? SMTPResult(verdict: .unreachable, step: .connect, detail: "the session is already closed")
        }
        state = .opening
        machine.tlsPolicy = tls
        machine.tlsAvailable = Self.tlsAvailable
        self.serverName = serverName
        if Task.isCancelled {
            return failOpen(SMTPResult(verdict: .unreachable, step: .connect, detail: "cancelled before connecting"))
        }
        let connectStart = ContinuousClock.now
        do {
            connection = try await TCPConnection.connect(
                to: server, deadline: connectStart + configuration.timeouts.connect, loop: loop)
        } catch {
            let detail: String
            switch error.code {
            case .timedOut: detail = "timed out connecting to \(server)"
            case .cancelled: detail = "cancelled while connecting to \(server)"
            default: detail = "cannot connect to \(server): \(error.message) (\(error.code))"
            }
            timings[.connect] = ContinuousClock.now - connectStart
            return failOpen(SMTPResult(verdict: .unreachable, step: .connect, detail: detail))
        }
        stepStarted = ContinuousClock.now
        timings[.connect] = stepStarted - connectStart
        if state == .closed {
            // close() ran while connecting.
            connection?.close()
            return failOpen(SMTPResult(verdict: .unreachable, step: .connect, detail: "closed while connecting"))
        }
        let outcome = await run(machine.connected())
        if let outcome {
            openResult = outcome
            return outcome
        }
        if state == .closed {
            // close() ran while the last reply was on its way: never report ready (and
            // never overwrite `.closed`) for a session without a connection.
            return failOpen(SMTPResult(verdict: .unreachable, step: machine.awaitedStep ?? .ehlo,
                                       detail: "closed while opening"))
        }
        state = .ready
        return nil
    }

    /// Runs MAIL, RCPT, DATA, the message and end of data (MAIL+RCPT+DATA in one write
    /// when the server offers PIPELINING), then QUIT without waiting. Opens the session
    /// first if ``open(tls:serverName:)`` was not called. One transaction per session: a second `send` or
    /// `probe` sends nothing and returns ``SMTPVerdict/temporaryFailure`` (or the failure of
    /// ``open(tls:serverName:)``).
    public func send(from: EmailAddress, to: EmailAddress, data: MessageData) async -> SMTPResult {
        if let blocked = await prepareTransaction() { return blocked }
        state = .busy
        stepStarted = ContinuousClock.now
        let outcome = await run(machine.startTransaction(from: from, to: to, data: data), message: data)
        return outcome ?? SMTPResult(verdict: .temporaryFailure, step: .mail, detail: "the transaction ended without a verdict")
    }

    /// Runs MAIL and RCPT (pipelined when offered), then RSET and QUIT without waiting; no
    /// DATA. ``SMTPVerdict/accepted`` means RCPT got 2xx. With `catchAllProbe` (a random
    /// local part of `to`'s domain) a pipelined group also asks for that address, in the
    /// same write: ``SMTPResult/catchAll`` then says whether the domain takes any address.
    public func probe(from: EmailAddress, to: EmailAddress, catchAllProbe: EmailAddress? = nil) async -> SMTPResult {
        if let blocked = await prepareTransaction() { return blocked }
        state = .busy
        stepStarted = ContinuousClock.now
        let outcome = await run(machine.startProbe(from: from, to: to, catchAllProbe: catchAllProbe), message: nil)
        return outcome ?? SMTPResult(verdict: .temporaryFailure, step: .rcpt, detail: "the probe ended without a verdict")
    }

    /// Sends QUIT without waiting for its reply and closes the socket. Idempotent; safe at
    /// any time (an operation in progress then ends as a failure of its step).
    public func close() async {
        guard state != .closed else { return }
        state = .closed
        guard let connection else { return }
        self.connection = nil
        if machine.result == nil, !machine.isNegotiatingTLS, machine.awaitedStep == nil || machine.isReady {
            await writeQuietly(connection, machine.isInTransaction ? ["RSET", "QUIT"] : ["QUIT"])
        }
        connection.close()
    }

    // MARK: Running the machine

    private func prepareTransaction() async -> SMTPResult? {
        if state == .new, let failure = await open() { return failure }
        switch state {
        case .ready: return nil
        case .busy: return SMTPResult(verdict: .temporaryFailure, step: .mail, detail: "a transaction is already running on this session")
        case .opening:
            return SMTPResult(verdict: .temporaryFailure, step: .mail, detail: "the session is still opening")
        case .new, .closed:
            // After a failed open() its answer; otherwise never an earlier transaction's
            // result (an `.accepted` here would claim a message that was never sent).
            return openResult ?? SMTPResult(
                verdict: .temporaryFailure, step: .mail,
                detail: "the session is closed (one transaction per session); nothing was sent")
        }
    }

    private func failOpen(_ failure: SMTPResult) -> SMTPResult {
        openResult = failure
        result = failure
        state = .closed
        connection?.close()
        connection = nil
        return failure
    }

    /// Executes actions until the machine is ready (returns `nil`) or finished.
    private func run(_ first: SMTPClientStateMachine.Action, message: MessageData? = nil) async -> SMTPResult? {
        var action = first
        while true {
            // No reply is due now, so any byte already read is one nobody asked for.
            if action.writesOrWaitsForCaller, parser.isInsideReply {
                action = outOfTurn()
                continue
            }
            switch action {
            case .ready:
                return nil
            case .startTLS:
                // RFC 3207 §6 and STANDARDS.md: a byte after the 220 would be read as if
                // it came over TLS (response injection); abort instead.
                if parser.isInsideReply {
                    record(.received, "<\(parser.bufferedByteCount) bytes after the 220 to STARTTLS>")
                    action = .finish(machine.fail(.responseInjection(parser.bufferedByteCount)))
                } else {
                    action = await startTLS()
                }
            case .finish(var outcome):
                // One result across the await: each value kept over a suspension grows
                // this function's async frame, and a frame past the task's first slab
                // costs a malloc and a free on every call.
                if parser.isInsideReply, let unsynced = outOfTurn(after: outcome) {
                    outcome = unsynced
                }
                await finish(outcome)
                return outcome
            case .awaitReply:
                action = await readReply()
            case .send(let commands):
                var bytes: [UInt8] = []
                for command in commands {
                    bytes.append(contentsOf: command.bytes)
                    record(.sent, command.transcript)
                }
                let step = commands.first?.step ?? .quit
                if let failure = await write(bytes, step: step) {
                    action = .finish(failure)
                    continue
                }
                stepStarted = ContinuousClock.now
                action = await readReply()
            case .sendMessage:
                stepStarted = ContinuousClock.now
                if let failure = await stream(message?.bytes ?? []) {
                    action = .finish(failure)
                    continue
                }
                action = await readReply()
            }
        }
    }

    /// After the 220 to STARTTLS: the handshake (SNI the MX host name), then EHLO again.
    private func startTLS() async -> SMTPClientStateMachine.Action {
        let startTLSReply = ContinuousClock.now - stepStarted
        #if OpenSSL
        guard let plain = connection as? TCPConnection else { return .finish(machine.fail(.connectionClosed)) }
        let handshakeStart = ContinuousClock.now
        do {
            let stream = try await TLSStream.connect(
                over: plain, serverName: serverName, context: try TLSContext.opportunisticClient(),
                deadline: handshakeStart + configuration.timeouts.tlsHandshake)
            let handshake = ContinuousClock.now - handshakeStart
            if state == .closed {
                // close() ran during the handshake and closed the TCP connection under us.
                stream.close()
                return .finish(machine.fail(.connectionClosed))
            }
            connection = stream
            record(
                .received,
                "<TLS established: \(stream.protocolVersion), \(stream.cipher)\(stream.resumed ? ", resumed" : "")>")
            stepStarted = ContinuousClock.now
            return machine.tlsEstablished(SMTPTLSInfo(
                version: stream.protocolVersion, cipher: stream.cipher, serverName: stream.serverName,
                startTLSReply: startTLSReply, handshake: handshake, resumed: stream.resumed))
        } catch {
            record(.received, "<TLS handshake failed: \(error.message)>")
            switch error.code {
            case .tls: return .finish(machine.fail(.tlsHandshake(error.message)))
            default: return .finish(machine.fail(failure(for: error)))
            }
        }
        #else
        _ = startTLSReply
        return .finish(machine.fail(.tlsHandshake("this build has no TLS (built without the OpenSSL trait)")))
        #endif
    }

    /// Writes the message in chunks of at most 64 KiB, CRLF-normalised and dot-stuffed.
    private func stream(_ bytes: [UInt8]) async -> SMTPResult? {
        var stuffer = SMTPDataStuffer()
        let chunkSize = 64 * 1024
        var offset = 0
        var chunk: [UInt8] = []
        repeat {
            chunk.removeAll(keepingCapacity: true)
            let end = min(offset + chunkSize, bytes.count)
            stuffer.encode(bytes[offset..<end], into: &chunk)
            offset = end
            if offset == bytes.count { stuffer.finish(into: &chunk) }
            if let failure = await write(chunk, step: .endOfData) { return failure }
        } while offset < bytes.count
        record(.sent, String(concatenating: "<message: ", String(bytes.count), " bytes>"))
        record(.sent, ".")
        return nil
    }

    private func write(_ bytes: [UInt8], step: SMTPStep) async -> SMTPResult? {
        guard let connection else { return machine.fail(.connectionClosed) }
        do {
            try await connection.write(bytes, deadline: ContinuousClock.now + configuration.timeouts.timeout(for: step))
            return nil
        } catch {
            return machine.fail(failure(for: error))
        }
    }

    private func readReply() async -> SMTPClientStateMachine.Action {
        let step = machine.awaitedStep ?? .quit
        let deadline = ContinuousClock.now + configuration.timeouts.timeout(for: step)
        while true {
            do {
                if let reply = try parser.next() {
                    // One clock reading for the reply: its lines came in together.
                    let received = ContinuousClock.now
                    reply.forEachTranscriptLine { record(.received, $0, at: received) }
                    if !machine.awaitsAuxiliaryReply {
                        timings[step] = received - stepStarted
                        replies[step] = reply
                    }
                    return machine.receive(reply)
                }
            } catch {
                record(.received, "<garbage: \(error.message)>")
                return .finish(machine.fail(.protocolError(error)))
            }
            guard let connection else { return .finish(machine.fail(.connectionClosed)) }
            var buffer = spare
            spare = []
            buffer.removeAll(keepingCapacity: true)
            do {
                let count = try await connection.read(appendingTo: &buffer, maxBytes: 16 * 1024, deadline: deadline)
                if count == 0 {
                    timings[step] = ContinuousClock.now - stepStarted
                    return .finish(machine.fail(.connectionClosed))
                }
                parser.feed(buffer)
                spare = buffer
            } catch {
                timings[step] = ContinuousClock.now - stepStarted
                return .finish(machine.fail(failure(for: error)))
            }
        }
    }

    /// The server spoke out of turn (see ``SMTPProtocolError/Code/outOfTurn``): what it
    /// sent goes into the transcript, and the attempt ends without a verdict, as for
    /// garbage (Postfix likewise gives up on a server that lost synchronisation). Except
    /// a 421, which may come unasked (RFC 5321 §3.8): the server is closing, and that is
    /// the answer to the command due.
    private func outOfTurn() -> SMTPClientStateMachine.Action {
        let unasked = parser.bufferedByteCount
        if let reply = try? parser.next() {
            reply.forEachTranscriptLine { record(.received, $0) }
            if reply.code == 421 {
                if let step = machine.awaitedStep { replies[step] = reply }
                return machine.receive(reply)
            }
        }
        record(.received, "<out of turn: \(unasked) bytes nobody asked for>")
        return .finish(
            machine.fail(
                .protocolError(
                    SMTPProtocolError(
                        .outOfTurn,
                        "a reply came out of turn, before the command it would answer was sent"))))
    }

    /// A transaction verdict with every reply due read, and more bytes waiting (with
    /// PIPELINING the replies of a group go by without a write between them, so the check
    /// in `run` cannot see this): the reply taken as the verdict may have been another
    /// command's, so there is no verdict. A 421 or 221 after it is the server saying
    /// goodbye, and the verdict stands. So does a 2xx to the final dot: the server has
    /// taken responsibility for the message (RFC 5321 §4.1.1.4), and calling it
    /// undelivered would queue it and deliver it twice; the surplus is only recorded.
    private func outOfTurn(after verdict: SMTPResult) -> SMTPResult? {
        guard verdict.reply != nil, machine.unansweredSteps.isEmpty, parser.isInsideReply
        else { return nil }
        switch verdict.step {
        case .mail, .rcpt, .data, .endOfData: break
        default: return nil
        }
        let unasked = parser.bufferedByteCount
        if let reply = try? parser.next() {
            reply.forEachTranscriptLine { record(.received, $0) }
            if reply.code == 421 || reply.code == 221 { return nil }
        }
        record(.received, "<out of turn: \(unasked) bytes nobody asked for>")
        if verdict.step == .endOfData, verdict.verdict == .accepted {
            var delivered = verdict
            delivered.detail =
                "delivered; afterwards a reply came out of turn (protocol error, recorded): \(unasked) bytes nobody asked for"
            return delivered
        }
        return SMTPResult(
            verdict: .temporaryFailure, step: verdict.step,
            detail:
                "a reply came out of turn after the \(SMTPClientStateMachine.name(verdict.step)) reply: replies and commands no longer match",
            reason: .protocolError)
    }

    private func failure(for error: SocketError) -> SMTPClientStateMachine.Failure {
        switch error.code {
        case .timedOut: .timedOut
        case .cancelled: .cancelled
        case .connectionReset, .closed: .connectionClosed
        default: .socket("\(error.message) (\(error.code))")
        }
    }

    /// The verdict is known: QUIT (RSET first after a probe) without waiting, then close.
    private func finish(_ outcome: SMTPResult) async {
        result = outcome
        if state == .opening { openResult = outcome }
        state = .closed
        guard let connection else { return }
        self.connection = nil
        // Only when the server is listening for commands: not after a failure.
        let clean = outcome.reply != nil && outcome.step != .connect
        if clean {
            if let farewell = farewellAfterVoidedReplies(machine.unansweredSteps) {
                if !farewell.isEmpty { await writeQuietly(connection, farewell) }
            } else {
                let inTransaction = (outcome.step == .mail || outcome.step == .rcpt) && !machine.transactionReset
                await writeQuietly(connection, inTransaction ? ["RSET", "QUIT"] : ["QUIT"])
            }
        }
        connection.close()
    }

    /// The commands to write when a pipelined group still had replies due at the verdict
    /// (a refused MAIL or RCPT): `nil` when none were due. Only replies already received are
    /// looked at (no wait on the critical path). When DATA was part of the group the
    /// server may be reading message content, so "RSET/QUIT" could land in a message:
    /// - DATA refused: the server reads commands, RSET and QUIT as usual;
    /// - DATA got 354 after RCPT was refused (MAIL accepted): a lone "." ends the empty,
    ///   recipient-less message (RFC 2920 §3.1), then QUIT;
    /// - DATA got 354 after a refused MAIL, or its reply has not arrived: write nothing;
    ///   closing the connection aborts the transaction (RFC 5321 §3.8), and nothing we
    ///   write can be taken as message content.
    private func farewellAfterVoidedReplies(_ steps: [SMTPStep]) -> [String]? {
        guard !steps.isEmpty else { return nil }
        var voided: [SMTPReply] = []
        while voided.count < steps.count, let reply = try? parser.next() {
            reply.forEachTranscriptLine(suffix: " (void)") { record(.received, $0) }
            voided.append(reply)
        }
        guard steps.contains(.data) else { return ["RSET", "QUIT"] }
        guard voided.count == steps.count, let dataReply = voided.last else { return [] }
        if !dataReply.isIntermediate { return ["RSET", "QUIT"] }
        return steps == [.data] ? [".", "QUIT"] : []
    }

    /// Writes commands (each line without its CRLF) in one write without waiting for a
    /// reply; a few milliseconds at most. The transcript has them on one line, " / " between.
    private func writeQuietly(_ connection: any ByteStream, _ commands: [String]) async {
        var bytes: [UInt8] = []
        for command in commands {
            bytes.append(contentsOf: command.utf8)
            bytes.append(contentsOf: [0x0D, 0x0A])
        }
        record(.sent, commands.joined(separator: " / "))
        try? await connection.write(bytes, deadline: ContinuousClock.now + .milliseconds(100))
    }

    private func record(_ direction: TranscriptEntry.Direction, _ text: String, at time: ContinuousClock.Instant = .now) {
        transcript.append(
            TranscriptEntry(
                server: serverLabel, direction: direction, text: text,
                elapsed: time - started))
    }
}
