import Sockets

/// One SMTP connection to one server: a thin actor that runs ``SMTPClientStateMachine``
/// over a ``Sockets/TCPConnection`` with a timeout per step.
///
/// ```swift
/// let session = SMTPSession(server: try SocketAddress(ip: "192.0.2.25", port: 25),
///                           configuration: try SMTPSessionConfiguration(heloName: "app.example"))
/// if let failure = await session.open() { return failure }      // connect, greeting, EHLO
/// let result = await session.send(from: sender, to: recipient, data: message.encoded())
/// ```
///
/// - ``open()`` connects, reads the greeting, sends EHLO (HELO when EHLO gets 500/502)
///   and, with credentials, AUTH PLAIN or LOGIN. It returns `nil` when the session is
///   ready, else why not. Cancelling its task ends it at once (``SMTPVerdict/unreachable``).
/// - ``send(from:to:data:)`` and ``probe(from:to:)`` run one transaction (pipelined when
///   the server offers PIPELINING). Once the verdict is known the session sends QUIT (a
///   probe sends RSET and QUIT) without waiting for the reply and closes the connection:
///   one transaction per session, QUIT never on the critical path.
/// - A connection that closes, times out or talks garbage inside the transaction is a
///   ``SMTPVerdict/temporaryFailure`` (RFC 5321 §3.8: as 451).
/// - A caller with a deadline of its own (a budget) passes it as `interruptAt`:
///   ``send(from:to:data:interruptAt:)`` then returns ``SMTPTransactionProgress/interrupted``
///   at that deadline with the transaction still in progress, and ``resume()``, from
///   another task, carries it on. The conversation is never cut for the caller's sake.
public actor SMTPSession {
    private enum State {
        case new, opening, ready, busy, closed
        /// A transaction was interrupted at its caller's deadline: ``resume()`` goes on.
        case interrupted
    }

    /// Where the conversation is between two system calls: what the run loop does next.
    /// Kept in the actor, not in locals, so that an interrupted transaction can be
    /// carried on by another task exactly where it stopped.
    private enum Pending {
        /// Bytes to write (a command group, or a chunk of the message), then a reply.
        case writing(Outgoing)
        /// A reply is due by `deadline`.
        case awaitingReply(deadline: ContinuousClock.Instant)
    }

    private struct Outgoing {
        var bytes: [UInt8]
        /// How many of `bytes` the kernel took already.
        var written = 0
        var step: SMTPStep
        var deadline: ContinuousClock.Instant
        /// The rest of the message after `bytes`, when sending DATA content.
        var message: SMTPMessageChunker?
    }

    /// How the run loop stopped.
    fileprivate enum RunEnd {
        /// The machine is ready for a transaction (after `open()`).
        case ready
        case finished(SMTPResult)
        /// At the caller's `interruptAt` or cancellation; `pending` says where to go on.
        case interrupted
    }

    /// The server this session talks to.
    public nonisolated let server: SocketAddress
    /// The configuration it was made with.
    public nonisolated let configuration: SMTPSessionConfiguration
    private let loop: EventLoop
    private let started = ContinuousClock.now
    private var state = State.new
    private var connection: TCPConnection?
    private var machine: SMTPClientStateMachine
    private var parser = SMTPReplyParser()
    private var spare: [UInt8] = []
    private var openResult: SMTPResult?
    private var stepStarted = ContinuousClock.now
    private var pending: Pending?
    /// While opening: no wait may last past this (the caller's budget for the race).
    private var openDeadline: ContinuousClock.Instant?

    /// Every command and reply so far, credentials redacted, message bodies as byte counts.
    public private(set) var transcript: [TranscriptEntry] = []
    /// The time each step took: connect, greeting (from connect), and each command to its
    /// reply (commands of a pipelined group all count from the group's write).
    public private(set) var timings: [SMTPStep: Duration] = [:]
    /// The last reply received at each step (the greeting, EHLO, MAIL, RCPT, ...).
    public private(set) var replies: [SMTPStep: SMTPReply] = [:]
    /// The verdict of the transaction (or of `open()` when it failed), once known.
    public private(set) var result: SMTPResult?

    /// - Parameters:
    ///   - server: the MX host's address and port.
    ///   - configuration: HELO name, timeouts and optional credentials.
    ///   - loop: the socket event loop.
    public init(server: SocketAddress, configuration: SMTPSessionConfiguration, loop: EventLoop = .shared) {
        self.server = server
        self.configuration = configuration
        self.loop = loop
        self.machine = SMTPClientStateMachine(heloName: configuration.heloName, credentials: configuration.credentials)
    }

    /// The extensions the server announced in its EHLO reply (empty before, or after HELO).
    public var capabilities: SMTPCapabilities { machine.capabilities }

    /// Connect, 220 greeting, EHLO (HELO fallback), AUTH when configured.
    /// - Returns: `nil` when ready for a transaction; otherwise why not (verdict
    ///   ``SMTPVerdict/unreachable`` or ``SMTPVerdict/senderRejected``). Returns promptly,
    ///   as `.unreachable`, when the task is cancelled. Calling it again returns the
    ///   first call's answer.
    public func open() async -> SMTPResult? {
        await open(until: nil)
    }

    /// ``open()``, giving up at `deadline` as at a step timeout (`.unreachable`) when
    /// that comes before the step's own timeout: a caller's budget for connecting.
    public func open(until deadline: ContinuousClock.Instant?) async -> SMTPResult? {
        switch state {
        case .new: break
        case .ready, .busy, .interrupted: return nil
        case .opening, .closed:
            return openResult ?? SMTPResult(verdict: .unreachable, step: .connect, detail: "the session is already closed")
        }
        state = .opening
        openDeadline = deadline
        defer { openDeadline = nil }
        if Task.isCancelled {
            return failOpen(SMTPResult(verdict: .unreachable, step: .connect, detail: "cancelled before connecting"))
        }
        let connectStart = ContinuousClock.now
        do {
            connection = try await TCPConnection.connect(
                to: server, deadline: capped(connectStart + configuration.timeouts.connect), loop: loop)
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
        if case .finished(let outcome) = await run(machine.connected()) {
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
    /// first if ``open()`` was not called. One transaction per session: a second `send` or
    /// `probe` sends nothing and returns ``SMTPVerdict/temporaryFailure`` (or the failure of
    /// ``open()``).
    public func send(from: EmailAddress, to: EmailAddress, data: MessageData) async -> SMTPResult {
        if let blocked = await prepareTransaction() { return blocked }
        let first = begin(machine.startTransaction(from: from, to: to, data: data))
        return await run(first, message: data.bytes).result
    }

    /// ``send(from:to:data:)``, returning ``SMTPTransactionProgress/interrupted`` at
    /// `interruptAt` (or when the task is cancelled) if the transaction is still waiting on
    /// the server then; ``resume()`` carries it on. `nil`: never interrupted (cancellation
    /// then fails the step, as for ``send(from:to:data:)``).
    public func send(
        from: EmailAddress, to: EmailAddress, data: MessageData,
        interruptAt: ContinuousClock.Instant?
    ) async -> SMTPTransactionProgress {
        if let blocked = await prepareTransaction() { return .finished(blocked) }
        let first = begin(machine.startTransaction(from: from, to: to, data: data))
        return progress(await run(first, message: data.bytes, interruptAt: interruptAt))
    }

    /// Runs MAIL and RCPT (pipelined when offered), then RSET and QUIT without waiting; no
    /// DATA. ``SMTPVerdict/accepted`` means RCPT got 2xx.
    public func probe(from: EmailAddress, to: EmailAddress) async -> SMTPResult {
        if let blocked = await prepareTransaction() { return blocked }
        return await run(begin(machine.startProbe(from: from, to: to))).result
    }

    /// ``probe(from:to:)``, interruptible as ``send(from:to:data:interruptAt:)`` is.
    public func probe(
        from: EmailAddress, to: EmailAddress, interruptAt: ContinuousClock.Instant?
    ) async -> SMTPTransactionProgress {
        if let blocked = await prepareTransaction() { return .finished(blocked) }
        let first = begin(machine.startProbe(from: from, to: to))
        return progress(await run(first, interruptAt: interruptAt))
    }

    /// Carries an interrupted transaction on from where it stopped to its verdict (not
    /// interruptible; its step timeouts bound it). Without an interrupted transaction,
    /// the verdict already known, or `.temporaryFailure` when there is none.
    public func resume() async -> SMTPResult {
        guard state == .interrupted else {
            return result ?? SMTPResult(
                verdict: .temporaryFailure, step: .mail, detail: "no interrupted transaction to resume")
        }
        state = .busy
        return await run(nil).result
    }

    /// A transaction starts with `first`. (Not async: each async layer costs a frame and
    /// an executor check per call.)
    private func begin(_ first: SMTPClientStateMachine.Action) -> SMTPClientStateMachine.Action {
        state = .busy
        stepStarted = ContinuousClock.now
        return first
    }

    private func progress(_ end: RunEnd) -> SMTPTransactionProgress {
        switch end {
        case .finished(let result):
            return .finished(result)
        case .interrupted:
            state = .interrupted
            return .interrupted
        case .ready:
            return .finished(end.result)
        }
    }

    /// Sends QUIT without waiting for its reply and closes the socket. Idempotent; safe at
    /// any time (an operation in progress then ends as a failure of its step).
    public func close() async {
        guard state != .closed else { return }
        state = .closed
        guard let connection else { return }
        self.connection = nil
        if machine.result == nil, machine.awaitedStep == nil || machine.isReady {
            await writeQuietly(connection, machine.isInTransaction ? "RSET\r\nQUIT\r\n" : "QUIT\r\n")
        }
        connection.close()
    }

    // MARK: Running the machine

    private func prepareTransaction() async -> SMTPResult? {
        if state == .new, let failure = await open() { return failure }
        switch state {
        case .ready: return nil
        case .busy, .interrupted:
            return SMTPResult(verdict: .temporaryFailure, step: .mail, detail: "a transaction is already running on this session")
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

    /// Executes actions until the machine is ready or finished, or the caller's
    /// `interruptAt` passes. `first == nil`: go on from `pending` (``resume()``).
    ///
    /// Each turn waits once (a write, or a reply) and lets the machine say what comes
    /// next. Only the waits are here; the bookkeeping around them is in synchronous
    /// helpers: every local an async function keeps costs a block of the task allocator
    /// per call, and every async layer a frame (with the bookkeeping in here, a message
    /// cost 40 more blocks).
    private func run(
        _ first: SMTPClientStateMachine.Action?, message: [UInt8]? = nil,
        interruptAt: ContinuousClock.Instant? = nil
    ) async -> RunEnd {
        var next = first
        while true {
            if let action = next {
                switch action {
                case .ready:
                    return .ready
                case .finish(let outcome):
                    await finish(outcome)
                    return .finished(outcome)
                case .awaitReply, .send, .sendMessage:
                    plan(action, message: message)
                }
            }
            switch pending {
            case .awaitingReply(let deadline):
                guard let action = await readReply(deadline: deadline, interruptAt: interruptAt) else {
                    return .interrupted  // `pending` still says a reply is due
                }
                next = action
            case .writing(let outgoing):
                guard let connection else {
                    next = .finish(machine.fail(.connectionClosed))
                    continue
                }
                let (written, error) = await connection.write(
                    outgoing.bytes, from: outgoing.written, deadline: earlier(outgoing.deadline, interruptAt))
                switch wrote(upTo: written, error: error, interruptAt: interruptAt) {
                case .interrupted: return .interrupted
                case .failed(let failure): next = .finish(failure)
                case .carryOn: next = nil
                }
            case nil:
                assertionFailure("every action leaves a write or a reply pending")
                next = .finish(machine.fail(.connectionClosed))
            }
        }
    }

    /// What comes after a write.
    private enum AfterWrite {
        case carryOn
        case failed(SMTPResult)
        case interrupted
    }

    /// Sets `pending` for an action that writes or waits.
    private func plan(_ action: SMTPClientStateMachine.Action, message: [UInt8]?) {
        switch action {
        case .ready, .finish:
            preconditionFailure("the run loop handles \(action) itself")
        case .awaitReply:
            pending = .awaitingReply(deadline: replyDeadline())
        case .send(let commands):
            var bytes: [UInt8] = []
            for command in commands {
                bytes.append(contentsOf: command.bytes)
                record(.sent, command.transcript)
            }
            let step = commands.first?.step ?? .quit
            pending = .writing(Outgoing(bytes: bytes, step: step, deadline: deadline(for: step)))
        case .sendMessage:
            stepStarted = ContinuousClock.now
            var chunker = SMTPMessageChunker(message ?? [])
            var chunk: [UInt8] = []
            chunker.next(into: &chunk)
            pending = .writing(
                Outgoing(bytes: chunk, step: .endOfData, deadline: deadline(for: .endOfData), message: chunker))
        }
    }

    /// Updates `pending` after the kernel took `bytes[..<written]` of the write in
    /// progress, or stopped with `error`: the next chunk of the message, the reply due,
    /// the failure, or the interruption (keeping the progress for ``resume()``).
    private func wrote(upTo written: Int, error: SocketError?, interruptAt: ContinuousClock.Instant?) -> AfterWrite {
        guard case .writing(var outgoing) = pending.take() else { return .carryOn }
        outgoing.written = written
        if let error {
            if isInterruption(error, stepDeadline: outgoing.deadline, interruptAt: interruptAt) {
                pending = .writing(outgoing)
                return .interrupted
            }
            return .failed(machine.fail(failure(for: error)))
        }
        if var chunker = outgoing.message {
            if !chunker.isDone {
                chunker.next(into: &outgoing.bytes)
                outgoing.message = chunker
                outgoing.written = 0
                outgoing.deadline = deadline(for: .endOfData)
                pending = .writing(outgoing)
                return .carryOn
            }
            record(.sent, "<message: \(chunker.source.count) bytes>")
            record(.sent, ".")
        } else {
            // A command group's replies count from the end of its write; the message's
            // from the start of its stream.
            stepStarted = ContinuousClock.now
        }
        pending = .awaitingReply(deadline: replyDeadline())
        return .carryOn
    }

    /// A step's deadline from now, never past the budget given to ``open(until:)``.
    private func deadline(for step: SMTPStep) -> ContinuousClock.Instant {
        capped(ContinuousClock.now + configuration.timeouts.timeout(for: step))
    }

    private func replyDeadline() -> ContinuousClock.Instant {
        deadline(for: machine.awaitedStep ?? .quit)
    }

    private func capped(_ deadline: ContinuousClock.Instant) -> ContinuousClock.Instant {
        earlier(deadline, openDeadline)
    }

    private func earlier(_ deadline: ContinuousClock.Instant, _ other: ContinuousClock.Instant?)
        -> ContinuousClock.Instant
    {
        guard let other else { return deadline }
        return min(deadline, other)
    }

    /// Whether a failed wait ended because of the caller (its `interruptAt`, its task's
    /// cancellation) rather than the server: then the transaction is interrupted, not failed.
    private func isInterruption(
        _ error: SocketError, stepDeadline: ContinuousClock.Instant, interruptAt: ContinuousClock.Instant?
    ) -> Bool {
        guard let interruptAt else { return false }
        switch error.code {
        case .cancelled: return true
        case .timedOut: return interruptAt < stepDeadline && ContinuousClock.now >= interruptAt
        default: return false
        }
    }

    /// The next reply's action; `nil` when interrupted (nothing of the reply is lost: the
    /// bytes read so far stay in the parser).
    private func readReply(
        deadline: ContinuousClock.Instant, interruptAt: ContinuousClock.Instant?
    ) async -> SMTPClientStateMachine.Action? {
        let step = machine.awaitedStep ?? .quit
        let waitUntil = earlier(deadline, interruptAt)
        while true {
            do {
                if let reply = try parser.next() {
                    for line in reply.lines { record(.received, "\(reply.code) \(line)") }
                    timings[step] = ContinuousClock.now - stepStarted
                    replies[step] = reply
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
                let count = try await connection.read(appendingTo: &buffer, maxBytes: 16 * 1024, deadline: waitUntil)
                if count == 0 {
                    timings[step] = ContinuousClock.now - stepStarted
                    return .finish(machine.fail(.connectionClosed))
                }
                parser.feed(buffer)
                spare = buffer
            } catch {
                if isInterruption(error, stepDeadline: deadline, interruptAt: interruptAt) { return nil }
                timings[step] = ContinuousClock.now - stepStarted
                return .finish(machine.fail(failure(for: error)))
            }
        }
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
                let inTransaction = outcome.step == .mail || outcome.step == .rcpt
                await writeQuietly(connection, inTransaction ? "RSET\r\nQUIT\r\n" : "QUIT\r\n")
            }
        }
        connection.close()
    }

    /// What to write when a pipelined group still had replies due at the verdict (a
    /// refused MAIL or RCPT): `nil` when none were due. Only replies already received are
    /// looked at (no wait on the critical path). When DATA was part of the group the
    /// server may be reading message content, so "RSET/QUIT" could land in a message:
    /// - DATA refused: the server reads commands, RSET and QUIT as usual;
    /// - DATA got 354 after RCPT was refused (MAIL accepted): a lone "." ends the empty,
    ///   recipient-less message (RFC 2920 §3.1), then QUIT;
    /// - DATA got 354 after a refused MAIL, or its reply has not arrived: write nothing;
    ///   closing the connection aborts the transaction (RFC 5321 §3.8), and nothing we
    ///   write can be taken as message content.
    private func farewellAfterVoidedReplies(_ steps: [SMTPStep]) -> String? {
        guard !steps.isEmpty else { return nil }
        var voided: [SMTPReply] = []
        while voided.count < steps.count, let reply = try? parser.next() {
            for line in reply.lines { record(.received, "\(reply.code) \(line) (void)") }
            voided.append(reply)
        }
        guard steps.contains(.data) else { return "RSET\r\nQUIT\r\n" }
        guard voided.count == steps.count, let dataReply = voided.last else { return "" }
        if !dataReply.isIntermediate { return "RSET\r\nQUIT\r\n" }
        return steps == [.data] ? ".\r\nQUIT\r\n" : ""
    }

    /// Writes a command without waiting for a reply; a few milliseconds at most.
    private func writeQuietly(_ connection: TCPConnection, _ text: String) async {
        record(.sent, text.split(separator: "\r\n").joined(separator: " / "))
        // The variant the run loop uses: one async layer less than write(_:deadline:).
        _ = await connection.write(Array(text.utf8), from: 0, deadline: ContinuousClock.now + .milliseconds(100))
    }

    private func record(_ direction: TranscriptEntry.Direction, _ text: String) {
        transcript.append(TranscriptEntry(direction: direction, text: text, elapsed: ContinuousClock.now - started))
    }
}

extension SMTPSession.RunEnd {
    /// The verdict of a run that could not be interrupted.
    fileprivate var result: SMTPResult {
        switch self {
        case .finished(let result): result
        case .ready, .interrupted:
            SMTPResult(verdict: .temporaryFailure, step: .mail, detail: "the transaction ended without a verdict")
        }
    }
}
