/// The client side of an SMTP session as a pure state machine: events in (a reply, a
/// failure), actions out (commands to write, the message to stream, a verdict). No I/O,
/// no clock: ``SMTPSession`` executes the actions; tests drive it directly.
///
/// ```swift
/// var machine = SMTPClientStateMachine(heloName: "app.example")
/// machine.connected()                                   // .awaitReply (greeting)
/// machine.receive(SMTPReply(220, "mx ESMTP"))            // .send(EHLO app.example)
/// machine.receive(SMTPReply(code: 250, lines: ["mx", "PIPELINING"]))   // .ready
/// machine.startTransaction(from: sender, to: recipient, data: data)    // .send(MAIL, RCPT, DATA)
/// ```
public struct SMTPClientStateMachine: Sendable {
    /// One command line to write.
    public struct Command: Sendable, Hashable {
        /// The bytes, CRLF included.
        public var bytes: [UInt8]
        /// The text for the transcript (credentials redacted), no line end.
        public var transcript: String
        /// The step whose reply this command awaits.
        public var step: SMTPStep
    }

    /// What the I/O layer must do next.
    public enum Action: Sendable, Hashable {
        /// Write these commands in one write (several when pipelined), then read replies.
        case send([Command])
        /// Stream the message (CRLF-normalised, dot-stuffed, `.CRLF` at the end), then read.
        case sendMessage
        /// Read the next reply: a pipelined group is not fully answered yet.
        case awaitReply
        /// The session is ready for a transaction.
        case ready
        /// The outcome is known: close the connection (QUIT without waiting).
        case finish(SMTPResult)
        /// The server answered STARTTLS with 220: check that no byte followed the reply
        /// (any is an injection attack: abort), run the TLS handshake, then call
        /// ``SMTPClientStateMachine/tlsEstablished(_:)`` or ``SMTPClientStateMachine/fail(_:)``.
        case startTLS

        /// `true` when no reply is due once this action begins: it writes a command or the
        /// message, or hands the session back to the caller. Bytes from the server already
        /// read at that point answer nothing.
        public var writesOrWaitsForCaller: Bool {
            switch self {
            case .send, .sendMessage, .ready: true
            // Bytes already read here are worse than out of turn: the session checks
            // them itself (response injection).
            case .awaitReply, .finish, .startTLS: false
            }
        }
    }

    /// Why an attempt broke off without a deciding reply.
    public enum Failure: Sendable, Hashable {
        /// The step's timeout passed.
        case timedOut
        /// The server closed the connection (or reset it).
        case connectionClosed
        /// The server sent something that is not a valid reply.
        case protocolError(SMTPProtocolError)
        /// The caller's task was cancelled.
        case cancelled
        /// Another socket error.
        case socket(String)
        /// The TLS handshake failed (OpenSSL's reason).
        case tlsHandshake(String)
        /// This many bytes came after the 220 to STARTTLS, before the handshake.
        case responseInjection(Int)
    }

    enum Phase: Sendable, Hashable {
        case idle, greeting, ehlo, helo, authPlain, authLoginUser, authLoginPassword, authLoginDone
        /// STARTTLS sent, its reply due.
        case startTLS
        /// 220 to STARTTLS received: the I/O layer runs the handshake.
        case tlsHandshake
        case ready, transaction, done
    }

    /// A reply due: a step's, or the RSET that closes a pipelined probe group.
    enum Awaited: Sendable, Hashable {
        case step(SMTPStep)
        /// RSET sent after RCPT in a pipelined probe: its 250 proves that the reply taken
        /// for RCPT's was RCPT's (a surplus reply before it would leave RCPT's real reply
        /// in RSET's place). Counts as RCPT for timeouts.
        case rset
        /// STARTTLS, alone (RFC 3207: never pipelined). Counts as EHLO for timeouts.
        case startTLS
        /// The RCPT of a random local part that a pipelined probe adds after the
        /// recipient's to test for a catch-all domain. Counts as RCPT for timeouts; its
        /// reply is not the recipient's.
        case catchAll

        var step: SMTPStep {
            switch self {
            case .step(let step): step
            case .rset, .catchAll: .rcpt
            case .startTLS: .ehlo
            }
        }
    }

    let heloName: String
    let credentials: SMTPCredentials?
    /// Whether (and how much) to insist on STARTTLS; set before ``connected()``.
    public var tlsPolicy: TLSPolicy
    /// Whether this build can do TLS at all (the `OpenSSL` trait).
    public var tlsAvailable: Bool
    /// Set once the handshake succeeded: the session is encrypted from then on.
    public private(set) var tls: SMTPTLSInfo?
    var phase: Phase = .idle
    /// Replies still due, in order.
    var pending: [Awaited] = []
    /// A pipelined probe's verdict, held until the RSET reply confirms it.
    var heldVerdict: SMTPResult?
    var isProbe = false
    var pipelined = false
    var recipient: EmailAddress?
    /// The random address of a probe's catch-all test, when asked.
    var catchAllProbe: EmailAddress?
    /// What the catch-all RCPT's reply said, once it came (`nil`: not yet, or unknown).
    var catchAllAnswer: Bool?
    /// The capabilities from EHLO (empty after HELO).
    public private(set) var capabilities = SMTPCapabilities()
    /// Set once a verdict is known.
    public private(set) var result: SMTPResult?
    /// The steps of a pipelined group whose replies were still due when the verdict came
    /// (e.g. `[.data]` when RCPT was refused): those replies mean nothing now, but the
    /// I/O layer must know whether DATA got 354 before it writes anything else
    /// (RFC 2920 §3.1: after a 354 the server is reading message content).
    public private(set) var unansweredSteps: [SMTPStep] = []
    /// `true` when the transaction was already reset (a pipelined probe's RSET was
    /// answered): the farewell is QUIT alone.
    public private(set) var transactionReset = false

    /// - Parameters:
    ///   - heloName: an already validated name (see ``SMTPSessionConfiguration``).
    ///   - credentials: used for AUTH when the server offers PLAIN or LOGIN.
    ///   - tlsPolicy: whether to use STARTTLS (``TLSPolicy/off`` by default here; the
    ///     session's `open` passes its own).
    ///   - tlsAvailable: whether the I/O layer can run a TLS handshake.
    public init(
        heloName: String, credentials: SMTPCredentials? = nil, tlsPolicy: TLSPolicy = .off, tlsAvailable: Bool = true
    ) {
        self.heloName = heloName
        self.credentials = credentials
        self.tlsPolicy = tlsPolicy
        self.tlsAvailable = tlsAvailable
    }

    /// The step whose reply is awaited next, if any.
    public var awaitedStep: SMTPStep? { pending.first?.step }

    /// `true` when the reply due is the RSET of a pipelined probe or STARTTLS's: not a
    /// step's own reply (not timed or kept as that step's).
    public var awaitsAuxiliaryReply: Bool {
        pending.first == .rset || pending.first == .startTLS || pending.first == .catchAll
    }

    /// `true` after ``Action/ready`` and before a transaction starts.
    public var isReady: Bool { phase == .ready }

    /// `true` between the 220 to STARTTLS and the end of the handshake: nothing but TLS
    /// may be written now.
    public var isNegotiatingTLS: Bool { phase == .tlsHandshake }

    /// `true` once MAIL has been sent: failures now mean `temporaryFailure`, not `unreachable`.
    public var isInTransaction: Bool { phase == .transaction }

    /// The TCP connection is up: wait for the greeting.
    public mutating func connected() -> Action {
        phase = .greeting
        pending = [.step(.greeting)]
        return .awaitReply
    }

    /// Handles the next reply.
    public mutating func receive(_ reply: SMTPReply) -> Action {
        guard let awaited = pending.first, phase != .done else {
            return unasked(reply, step: phase == .transaction ? .mail : .greeting)
        }
        pending.removeFirst()
        let step = awaited.step
        if awaited == .rset { return resetReply(reply) }
        if awaited == .startTLS { return startTLSReply(reply) }
        if awaited == .catchAll { return catchAllReply(reply) }
        switch phase {
        case .greeting:
            if reply.isPositive { return ehlo() }
            return openingFailure(reply, step: .greeting)
        case .ehlo:
            if reply.isPositive {
                capabilities = SMTPCapabilities(ehloReply: reply)
                if let next = startTLSIfDue() { return next }
                return authenticateOrReady()
            }
            if reply.code == 500 || reply.code == 502 {
                phase = .helo
                return send(command(String(concatenating: "HELO ", heloName), .helo))
            }
            return openingFailure(reply, step: .ehlo)
        case .helo:
            if reply.isPositive {
                // HELO has no extensions, so no STARTTLS.
                if let next = startTLSIfDue() { return next }
                return authenticateOrReady()
            }
            return openingFailure(reply, step: .helo)
        case .authPlain, .authLoginDone:
            if reply.code == 235 || reply.isPositive {
                phase = .ready
                return .ready
            }
            return openingFailure(reply, step: .auth)
        case .authLoginUser, .authLoginPassword:
            guard reply.code == 334, let credentials else { return openingFailure(reply, step: .auth) }
            let secret = phase == .authLoginUser ? credentials.username : credentials.password
            phase = phase == .authLoginUser ? .authLoginPassword : .authLoginDone
            return send(Command(bytes: Array((Base64.encode(Array(secret.utf8)) + "\r\n").utf8),
                                transcript: "<redacted>", step: .auth))
        case .transaction:
            return transactionReply(reply, step: step)
        case .idle, .ready, .done, .startTLS, .tlsHandshake:
            return unasked(reply, step: step)
        }
    }

    /// Starts a send transaction (MAIL, RCPT, DATA, message, end of data). Call when ready.
    public mutating func startTransaction(from: EmailAddress, to: EmailAddress, data: MessageData) -> Action {
        isProbe = false
        return start(from: from, to: to, data: data)
    }

    /// Starts a probe (MAIL, RCPT; no DATA). Call when ready.
    ///
    /// With `catchAllProbe` (a random local part of the recipient's domain) and a server
    /// that offers PIPELINING, its RCPT goes in the same group, after the recipient's and
    /// before RSET: no extra round trip. The result's ``SMTPResult/catchAll`` says `true`
    /// when both were accepted, `false` when the random one (or the recipient) was refused
    /// as unknown, `nil` otherwise (not pipelined, a temporary or policy reply).
    public mutating func startProbe(
        from: EmailAddress, to: EmailAddress, catchAllProbe: EmailAddress? = nil
    ) -> Action {
        isProbe = true
        self.catchAllProbe = catchAllProbe
        return start(from: from, to: to, data: nil)
    }

    /// The attempt broke off (timeout, close, garbage, cancellation, socket error).
    public mutating func fail(_ failure: Failure) -> SMTPResult {
        let step = pending.first?.step ?? (phase == .transaction ? .mail : phase == .tlsHandshake ? .ehlo : .greeting)
        let inside = phase == .transaction
        let what: String
        switch failure {
        case .timedOut: what = "timed out waiting for the \(Self.name(step)) reply"
        case .connectionClosed: what = "the server closed the connection before the \(Self.name(step)) reply"
        case .protocolError(let error): what = "the server sent garbage instead of the \(Self.name(step)) reply: \(error.message)"
        case .cancelled: what = "cancelled while waiting for the \(Self.name(step)) reply"
        case .socket(let message): what = "\(message) while waiting for the \(Self.name(step)) reply"
        case .tlsHandshake(let message): what = "TLS handshake failed: \(message)"
        case .responseInjection(let count):
            what = "\(count) bytes came after the 220 to STARTTLS, before the TLS handshake (response injection): aborted"
        }
        var reason: SMTPResult.Reason?
        var detail = what
        switch failure {
        case .protocolError: reason = .protocolError
        case .tlsHandshake: reason = .tlsHandshakeFailed
        case .responseInjection: reason = .tlsResponseInjection
        case .cancelled: break
        case .timedOut, .connectionClosed, .socket:
            // A failure while handshaking is the handshake's.
            if phase == .tlsHandshake {
                reason = .tlsHandshakeFailed
                detail = "TLS handshake failed: \(failure == .timedOut ? "timed out" : what)"
            }
        }
        let result = SMTPResult(verdict: inside ? .temporaryFailure : .unreachable, step: step, detail: detail, reason: reason)
        phase = .done
        pending = []
        self.result = result
        return result
    }

    // MARK: Opening

    private mutating func ehlo() -> Action {
        phase = .ehlo
        return send(command(String(concatenating: "EHLO ", heloName), .ehlo))
    }

    private mutating func authenticateOrReady() -> Action {
        // The mechanisms only with credentials to use them (a set made per call).
        guard let credentials, case let mechanisms = capabilities.authMechanisms, !mechanisms.isEmpty else {
            phase = .ready
            return .ready
        }
        // RFC 4954 §4 and STANDARDS.md: credentials never go out in plaintext.
        guard tls != nil else {
            return finish(SMTPResult(
                verdict: .unreachable, step: .auth,
                detail: "AUTH needs TLS: the session is not encrypted, so the credentials were not sent",
                reason: .authRequiresTLS))
        }
        if mechanisms.contains("PLAIN") {
            phase = .authPlain
            let token = Base64.encode([0] + Array(credentials.username.utf8) + [0] + Array(credentials.password.utf8))
            return send(Command(bytes: Array("AUTH PLAIN \(token)\r\n".utf8), transcript: "AUTH PLAIN <redacted>", step: .auth))
        }
        if mechanisms.contains("LOGIN") {
            phase = .authLoginUser
            return send(command("AUTH LOGIN", .auth))
        }
        phase = .ready
        return .ready
    }

    /// After EHLO (or HELO): STARTTLS when the policy wants it and the server offers it;
    /// with ``TLSPolicy/required`` and no TLS to be had, the end. `nil`: go on without.
    private mutating func startTLSIfDue() -> Action? {
        guard tls == nil, tlsPolicy != .off else { return nil }
        guard tlsAvailable else {
            return tlsPolicy == .required
                ? tlsUnavailable("this build has no TLS (built without the OpenSSL trait)") : nil
        }
        guard capabilities.startTLS else {
            return tlsPolicy == .required ? tlsUnavailable("the server does not offer STARTTLS") : nil
        }
        phase = .startTLS
        pending.append(.startTLS)
        return .send([Command(bytes: Array("STARTTLS\r\n".utf8), transcript: "STARTTLS", step: .ehlo)])
    }

    private mutating func startTLSReply(_ reply: SMTPReply) -> Action {
        if reply.code == 220 {
            phase = .tlsHandshake
            return .startTLS
        }
        if tlsPolicy == .required {
            return tlsUnavailable("the server refused STARTTLS (\(reply.code) \(reply.text))", reply: reply)
        }
        if reply.isTransient || reply.isPermanent {
            // RFC 3207 §4: after a refusal (454) the client may go on in plaintext.
            return authenticateOrReady()
        }
        return finish(SMTPResult(
            verdict: .unreachable, step: .ehlo, reply: reply,
            detail: "protocol error: unexpected reply \(reply.code) to STARTTLS", reason: .protocolError))
    }

    /// The handshake after STARTTLS succeeded: every capability learned before is
    /// forgotten (RFC 3207 §4.2: it came over an unprotected channel) and EHLO goes again.
    public mutating func tlsEstablished(_ info: SMTPTLSInfo) -> Action {
        guard phase == .tlsHandshake else {
            return finish(SMTPResult(verdict: .unreachable, step: .ehlo, detail: "TLS established out of order",
                                     reason: .protocolError))
        }
        tls = info
        capabilities = SMTPCapabilities()
        return ehlo()
    }

    private mutating func tlsUnavailable(_ why: String, reply: SMTPReply? = nil) -> Action {
        finish(SMTPResult(
            verdict: .unreachable, step: .ehlo, reply: reply, detail: "TLS required but \(why); nothing was sent in plaintext",
            reason: .tlsUnavailable))
    }

    private mutating func openingFailure(_ reply: SMTPReply, step: SMTPStep) -> Action {
        let verdict: SMTPVerdict = reply.isPermanent ? .senderRejected : .unreachable
        let detail = reply.isPermanent || reply.isTransient ? nil : "unexpected reply code \(reply.code)"
        return finish(SMTPResult(verdict: verdict, step: step, reply: reply, detail: detail))
    }

    // MARK: Transaction

    private mutating func start(from: EmailAddress, to: EmailAddress, data: MessageData?) -> Action {
        guard phase == .ready else {
            return finish(SMTPResult(verdict: .temporaryFailure, step: .mail, detail: "the session is not ready for a transaction"))
        }
        phase = .transaction
        recipient = to
        let caps = capabilities
        let needsUTF8 = from.requiresSMTPUTF8 || to.requiresSMTPUTF8 || (data?.requiresSMTPUTF8 ?? false)
        if needsUTF8 && !caps.smtpUTF8 {
            let recipientSide = !from.requiresSMTPUTF8 && to.requiresSMTPUTF8
            return finish(SMTPResult(
                verdict: recipientSide ? .recipientRejected : .senderRejected, step: recipientSide ? .rcpt : .mail,
                reply: SMTPReply(553, "5.6.7 \(recipientSide ? "recipient" : "sender") address needs SMTPUTF8, which the server does not offer"),
                detail: "decided locally (5.6.7); nothing was sent"))
        }
        var mail = String(concatenating: "MAIL FROM:<", from.description, ">")
        if let data {
            if data.requires8BitMIME && !caps.eightBitMIME {
                return finish(SMTPResult(
                    verdict: .senderRejected, step: .mail,
                    reply: SMTPReply(554, "5.6.3 the message body is 8-bit and the server does not offer 8BITMIME"),
                    detail: "decided locally (5.6.3); nothing was sent"))
            }
            if let limit = caps.size {
                if limit > 0 && data.bytes.count > limit {
                    return finish(SMTPResult(
                        verdict: .senderRejected, step: .mail,
                        reply: SMTPReply(552, "5.3.4 the message (\(data.bytes.count) bytes) exceeds the server's SIZE limit of \(limit)"),
                        detail: "decided locally (5.3.4); nothing was sent"))
                }
                mail += " SIZE=\(data.bytes.count)"
            }
            if data.requires8BitMIME { mail += " BODY=8BITMIME" }
        }
        if needsUTF8 { mail += " SMTPUTF8" }
        let mailCommand = command(mail, .mail)
        let rcptCommand = command(String(concatenating: "RCPT TO:<", to.description, ">"), .rcpt)
        pipelined = caps.pipelining
        if pipelined {
            var group = [mailCommand, rcptCommand]
            if isProbe {
                // RSET ends the group (RFC 2920 §3.1 allows it anywhere in one): its 250
                // must come third, so a surplus reply cannot pass for RCPT's unnoticed.
                pending.append(contentsOf: [.step(.mail), .step(.rcpt)])
                if let catchAllProbe {
                    // After the recipient's RCPT: a server that counts unknown recipients
                    // against a client has then already answered the one that matters.
                    group.append(command(String(concatenating: "RCPT TO:<", catchAllProbe.description, ">"), .rcpt))
                    pending.append(.catchAll)
                }
                group.append(Command(bytes: Array("RSET\r\n".utf8), transcript: "RSET", step: .rcpt))
                pending.append(.rset)
                return .send(group)
            }
            group.append(command("DATA", .data))
            return send(group)
        }
        return send(mailCommand)
    }

    private mutating func transactionReply(_ reply: SMTPReply, step: SMTPStep) -> Action {
        switch step {
        case .mail:
            if reply.isPositive {
                if pipelined { return .awaitReply }
                return send(command(String(concatenating: "RCPT TO:<", recipient?.description ?? "", ">"), .rcpt))
            }
            return finish(Self.classify(reply, step: .mail))
        case .rcpt:
            if reply.isPositive {
                if isProbe {
                    let accepted = SMTPResult(verdict: .accepted, step: .rcpt, reply: reply)
                    if pipelined {
                        heldVerdict = accepted
                        return .awaitReply
                    }
                    return finish(accepted)
                }
                if pipelined { return .awaitReply }
                return send(command("DATA", .data))
            }
            var refused = Self.classify(reply, step: .rcpt)
            // A domain that refuses this recipient as unknown accepts not every address.
            if isProbe, catchAllProbe != nil, refused.verdict == .recipientRejected {
                refused.catchAll = false
            }
            return finish(refused)
        case .data:
            // Only 354 opens the message (RFC 5321 §4.3.2); another 3xx (334 is AUTH's)
            // is a broken server, and streaming the message to it is not safe.
            if reply.code == 354 {
                pending = [.step(.endOfData)]
                return .sendMessage
            }
            return finish(Self.classify(reply, step: .data))
        case .endOfData:
            if reply.isPositive { return finish(SMTPResult(verdict: .accepted, step: .endOfData, reply: reply)) }
            return finish(Self.classify(reply, step: .endOfData))
        default:
            return finish(SMTPResult(verdict: .temporaryFailure, step: step, reply: reply, detail: "unexpected reply"))
        }
    }

    /// The reply to a pipelined probe's RSET: a 250 confirms the held verdict; anything
    /// else means a surplus reply shifted every reply by one (a lone `250` before RCPT's
    /// real refusal, for instance), so there is no verdict.
    private mutating func resetReply(_ reply: SMTPReply) -> Action {
        guard reply.isPositive, let held = heldVerdict else {
            return finish(SMTPResult(
                verdict: .temporaryFailure, step: .rcpt,
                detail: "protocol error: RSET got \(reply.code), so a reply came out of turn: replies and commands no longer match",
            reason: .protocolError))
        }
        transactionReset = true
        var confirmed = held
        confirmed.catchAll = catchAllAnswer
        return finish(confirmed)
    }

    /// The reply to the catch-all test's RCPT (the recipient's came first and was 2xx):
    /// accepted too means any address is; refused as unknown means not; a temporary or a
    /// policy reply (5.7.x) tells nothing. The group goes on to RSET either way.
    private mutating func catchAllReply(_ reply: SMTPReply) -> Action {
        if reply.isPositive {
            catchAllAnswer = true
        } else if reply.isPermanent, Self.classify(reply, step: .rcpt).verdict == .recipientRejected {
            catchAllAnswer = false
        }
        return .awaitReply
    }

    /// A reply with no command waiting for it: a protocol error in every mode, never a
    /// verdict (the reply belongs to no command).
    private mutating func unasked(_ reply: SMTPReply, step: SMTPStep) -> Action {
        finish(SMTPResult(
            verdict: phase == .transaction ? .temporaryFailure : .unreachable, step: step,
            detail: "protocol error: the server sent a reply nobody asked for (\(reply.code))", reason: .protocolError))
    }

    /// The reply table of STANDARDS.md for MAIL, RCPT, DATA and end of data.
    static func classify(_ reply: SMTPReply, step: SMTPStep) -> SMTPResult {
        let enhancedClass = reply.enhancedCode.map { $0.split(separator: ".").dropFirst().first.map(String.init) ?? "" }
        if reply.isTransient {
            return SMTPResult(verdict: .temporaryFailure, step: step, reply: reply)
        }
        guard reply.isPermanent else {
            // 2xx where 3xx was due (DATA), or 3xx where 2xx was due: a broken server.
            return SMTPResult(verdict: .temporaryFailure, step: step, reply: reply,
                              detail: "unexpected reply code \(reply.code) to \(name(step))")
        }
        switch step {
        case .mail:
            return SMTPResult(verdict: .senderRejected, step: step, reply: reply)
        case .rcpt:
            return SMTPResult(verdict: enhancedClass == "7" ? .senderRejected : .recipientRejected, step: step, reply: reply)
        default:
            return SMTPResult(verdict: enhancedClass == "1" ? .recipientRejected : .senderRejected, step: step, reply: reply)
        }
    }

    // MARK: Helpers

    private mutating func finish(_ result: SMTPResult) -> Action {
        var result = result
        // A reply that demands TLS on a plaintext session is never terminal: the same
        // recipient may well be accepted over TLS (DESIGN.md).
        if tls == nil, result.reason == nil, let reply = result.reply, reply.demandsTLS, result.verdict != .accepted {
            result.verdict = phase == .transaction ? .temporaryFailure : .unreachable
            result.reason = .tlsRequired
            result.detail = "the server demands TLS; this session is plaintext"
        }
        phase = .done
        unansweredSteps = pending.map(\.step)
        pending = []
        self.result = result
        return .finish(result)
    }

    private mutating func send(_ command: Command) -> Action { send([command]) }

    private mutating func send(_ commands: [Command]) -> Action {
        pending.append(contentsOf: commands.map { .step($0.step) })
        return .send(commands)
    }

    private func command(_ text: String, _ step: SMTPStep) -> Command {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 2)
        bytes.append(contentsOf: text.utf8)
        bytes.append(0x0D)
        bytes.append(0x0A)
        return Command(bytes: bytes, transcript: text, step: step)
    }

    static func name(_ step: SMTPStep) -> String {
        switch step {
        case .connect: "connect"
        case .greeting: "greeting"
        case .ehlo: "EHLO"
        case .helo: "HELO"
        case .auth: "AUTH"
        case .mail: "MAIL"
        case .rcpt: "RCPT"
        case .data: "DATA"
        case .endOfData: "end-of-data"
        case .quit: "QUIT"
        }
    }
}
