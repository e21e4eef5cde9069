import DirectSMTPTesting
import SMTPClient
import Sockets
import Testing

private let sender = try! EmailAddress("app@sender.example")
private let recipient = try! EmailAddress("jane@example.com")

private func message() -> MessageData {
    Message(from: sender, to: recipient, subject: "Welcome", text: "Your code is 123456.").encoded()
}

private func session(
    _ server: MockSMTPServer, timeouts: SMTPTimeouts = .uniform(.seconds(5)), credentials: SMTPCredentials? = nil
) throws -> SMTPSession {
    SMTPSession(
        server: server.address,
        configuration: try SMTPSessionConfiguration(heloName: "client.test", timeouts: timeouts, credentials: credentials))
}

private func tlsScript(_ change: (inout MockSMTPScript) -> Void = { _ in }) -> MockSMTPScript {
    var script = MockSMTPScript()
    script.offersStartTLS = true
    change(&script)
    return script
}

/// Policies that work in every build: no TLS is attempted, or none can be had.
@Suite("STARTTLS policy without a handshake", .serialized)
struct STARTTLSPolicyTests {
    @Test("Replies that demand TLS", arguments: [
        ("530 5.7.0 Must issue a STARTTLS command first", true),
        ("530 Must issue a STARTTLS command first", true),
        ("550 5.7.29 TLS required", true),
        ("421 4.7.29 TLS required", true),
        ("554 5.7.10 encryption needed", true),
        ("421 4.7.0 TLS required for RCPT domain", true),
        ("421 4.7.0 try again later", false),
        ("550 5.7.1 relaying denied", false),
        ("550 5.1.1 no such user", false),
    ])
    func demandsTLS(line: String, expected: Bool) throws {
        var parser = SMTPReplyParser()
        parser.feed(Array((line + "\r\n").utf8))
        let reply = try #require(try parser.next())
        #expect(reply.demandsTLS == expected)
    }

    @Test("530 at MAIL on a plaintext session is not terminal", arguments: [false, true])
    func tlsDemandedNotTerminal(probe: Bool) async throws {
        let server = try MockSMTPServer.start { $0.requiresTLS = true }
        defer { server.stop() }
        let session = try session(server)
        #expect(await session.open(tls: .opportunistic) == nil)
        let result = probe
            ? await session.probe(from: sender, to: recipient)
            : await session.send(from: sender, to: recipient, data: message())
        #expect(result.verdict == .temporaryFailure && result.step == .mail, "\(result)")
        #expect(result.reason == .tlsRequired && result.reply?.code == 530, "\(result)")
    }

    @Test("Required, and the server offers no STARTTLS: no transaction, nothing sent after EHLO")
    func requiredNotOffered() async throws {
        let server = try MockSMTPServer.start()
        defer { server.stop() }
        let session = try session(server)
        let failure = try #require(await session.open(tls: .required, serverName: "mx.example.test"))
        #expect(failure.verdict == .unreachable && failure.reason == .tlsUnavailable, "\(failure)")
        #expect(failure.detail?.hasPrefix("TLS required but") == true)
        let result = await session.send(from: sender, to: recipient, data: message())
        #expect(result.verdict == .unreachable && result.reason == .tlsUnavailable)
        #expect(await server.waitUntilIdle())
        let commands = try #require(server.sessions.first).commands
        #expect(commands.first == "EHLO client.test")
        #expect(!commands.contains { $0.hasPrefix("MAIL") || $0.hasPrefix("RCPT") || $0 == "DATA" }, "\(commands)")
        #expect(server.transactions.isEmpty)
    }

    @Test("Policy off: STARTTLS offered, never sent")
    func off() async throws {
        let server = try MockSMTPServer.start(tlsScript())
        defer { server.stop() }
        let session = try session(server)
        #expect(await session.open(tls: .off) == nil)
        #expect(await session.send(from: sender, to: recipient, data: message()).verdict == .accepted)
        #expect(await session.tls == nil)
        #expect(server.sessions.first?.commands.contains("STARTTLS") == false)
    }

    @Test("AUTH over plaintext: the credentials are never sent")
    func authNeedsTLS() async throws {
        let credentials = try SMTPCredentials(username: "user", password: "secret-password")
        let server = try MockSMTPServer.start { $0.credentials = credentials }
        defer { server.stop() }
        let session = try session(server, credentials: credentials)
        let failure = try #require(await session.open(tls: .opportunistic))
        #expect(failure.reason == .authRequiresTLS && failure.verdict == .unreachable, "\(failure)")
        #expect(!failure.description.contains("secret"))
        #expect(await server.waitUntilIdle())
        let commands = try #require(server.sessions.first).commands
        #expect(!commands.contains { $0.uppercased().hasPrefix("AUTH") }, "\(commands)")
        #expect(await !session.transcript.contains { $0.text.contains("secret") })
    }

    @Test("454 to STARTTLS: plaintext goes on (opportunistic); no transaction (required)",
          arguments: [TLSPolicy.opportunistic, .required])
    func refused(policy: TLSPolicy) async throws {
        let server = try MockSMTPServer.start(tlsScript { $0.startTLS = .reply(454, "4.7.0 TLS not available") })
        defer { server.stop() }
        let session = try session(server)
        let opened = await session.open(tls: policy)
        let result = await session.send(from: sender, to: recipient, data: message())
        #expect(await session.tls == nil)
        if policy == .required {
            #expect(opened?.reason == .tlsUnavailable, "\(String(describing: opened))")
            // Without TLS in this build, STARTTLS is never sent: no 454 to see.
            if SMTPSession.tlsAvailable { #expect(opened?.reply?.code == 454) }
            #expect(result.verdict == .unreachable)
            #expect(server.transactions.isEmpty)
        } else {
            #expect(opened == nil)
            #expect(result.verdict == .accepted, "\(result)")
            #expect(server.deliveryCount == 1)
        }
        #expect(server.sessions.first?.commands.contains("STARTTLS") == SMTPSession.tlsAvailable)
    }
}

#if OpenSSL
@Suite("STARTTLS against the mock server speaking TLS", .serialized)
struct STARTTLSTests {
    @Test("Opportunistic success: version and cipher reported, EHLO twice, SNI seen by the server")
    func success() async throws {
        let server = try MockSMTPServer.start(tlsScript())
        defer { server.stop() }
        let session = try session(server)
        #expect(await session.open(tls: .opportunistic, serverName: "mx.example.test") == nil)
        let tls = try #require(await session.tls)
        #expect(tls.version == "TLSv1.3")
        #expect(!tls.cipher.isEmpty)
        #expect(tls.serverName == "mx.example.test")
        #expect(tls.handshake > .zero && tls.total >= tls.handshake)
        #expect(await session.capabilities.startTLS == false)  // the EHLO over TLS
        let result = await session.send(from: sender, to: recipient, data: message())
        #expect(result.verdict == .accepted, "\(result)")
        #expect(await server.waitUntilIdle())
        let record = try #require(server.sessions.first)
        #expect(record.tls?.serverName == "mx.example.test")
        #expect(record.tls?.version == tls.version && record.tls?.cipher == tls.cipher)
        #expect(record.commands.filter { $0.hasPrefix("EHLO") }.count == 2)
        #expect(record.commandsBeforeTLS == 2)  // EHLO, STARTTLS; everything else over TLS
        #expect(record.commands.prefix(2) == ["EHLO client.test", "STARTTLS"])
        #expect(server.deliveryCount == 1)
        let transcript = await session.transcript.map(\.text)
        #expect(transcript.contains("STARTTLS"))
        #expect(transcript.contains { $0.hasPrefix("<TLS established: TLSv1.3") })
    }

    @Test("Nothing is pipelined across STARTTLS, with PIPELINING offered")
    func notPipelined() async throws {
        let server = try MockSMTPServer.start(tlsScript())
        defer { server.stop() }
        let session = try session(server)
        #expect(await session.send(from: sender, to: recipient, data: message()).verdict == .accepted)
        #expect(await server.waitUntilIdle())
        let record = try #require(server.sessions.first)
        #expect(record.bytesPipelinedAfterStartTLS == 0)
        #expect(record.readTexts.contains("STARTTLS\r\n"), "\(record.readTexts)")
        // The transaction itself is still pipelined, over TLS.
        #expect(record.readTexts.contains { $0.hasPrefix("MAIL FROM:") && $0.contains("RCPT TO:") })
    }

    @Test("An IP literal is never sent as SNI")
    func noIPLiteralSNI() async throws {
        let server = try MockSMTPServer.start(tlsScript())
        defer { server.stop() }
        let session = try session(server)
        #expect(await session.open(tls: .opportunistic, serverName: "127.0.0.1") == nil)
        #expect(await session.tls != nil)
        await session.close()
        #expect(await server.waitUntilIdle())
        #expect(server.sessions.first?.tls != nil && server.sessions.first?.tls?.serverName == nil)
    }

    @Test("AUTH goes over TLS")
    func authOverTLS() async throws {
        let credentials = try SMTPCredentials(username: "user", password: "secret-password")
        let server = try MockSMTPServer.start(tlsScript { $0.credentials = credentials })
        defer { server.stop() }
        let session = try session(server, credentials: credentials)
        #expect(await session.send(from: sender, to: recipient, data: message()).verdict == .accepted)
        #expect(await server.waitUntilIdle())
        let record = try #require(server.sessions.first)
        #expect(record.authenticatedAs == "user")
        let authIndex = try #require(record.commands.firstIndex { $0.hasPrefix("AUTH") })
        #expect(authIndex >= record.commandsBeforeTLS ?? .max)
        #expect(await !session.transcript.contains { $0.text.contains("secret") })
    }

    @Test("Bytes injected after the 220 to STARTTLS abort the session before any handshake")
    func injection() async throws {
        let server = try MockSMTPServer.start(tlsScript {
            $0.injectedAfterStartTLS = Array("250-PIPELINING\r\n250 AUTH PLAIN\r\n".utf8)
        })
        defer { server.stop() }
        let session = try session(server)
        let failure = try #require(await session.open(tls: .opportunistic))
        #expect(failure.reason == .tlsResponseInjection && failure.verdict == .unreachable, "\(failure)")
        #expect(await server.waitUntilIdle())
        #expect(server.sessions.first?.tls == nil)
        #expect(server.transactions.isEmpty)
    }

    @Test("A failed handshake ends the session with OpenSSL's reason; nothing goes in plaintext",
          arguments: [TLSPolicy.opportunistic, .required])
    func failedHandshake(policy: TLSPolicy) async throws {
        let server = try MockSMTPServer.start(tlsScript { $0.tlsHandshake = .fail })
        defer { server.stop() }
        let session = try session(server)
        let failure = try #require(await session.open(tls: policy))
        #expect(failure.reason == .tlsHandshakeFailed && failure.verdict == .unreachable, "\(failure)")
        #expect(failure.detail?.contains("TLS handshake failed") == true, "\(failure)")
        let result = await session.send(from: sender, to: recipient, data: message())
        #expect(result.verdict == .unreachable)
        #expect(await server.waitUntilIdle())
        #expect(server.transactions.isEmpty)
        #expect(server.sessions.first?.commands == ["EHLO client.test", "STARTTLS"])
    }

    @Test("Hostile TLS servers end the session with a clear reason within the step timeout",
          arguments: [
            MockTLSHandshake.hugeCertificate(1_000_000), .neverFinish, .closeAfterReply,
          ])
    func hostileHandshake(behavior: MockTLSHandshake) async throws {
        let server = try MockSMTPServer.start(tlsScript { $0.tlsHandshake = behavior })
        defer { server.stop() }
        // Generous steps before the handshake (the suite runs in parallel on a loaded
        // machine); the handshake's own timeout is the one under test.
        let timeouts = SMTPTimeouts(
            connect: .seconds(5), greeting: .seconds(5), ehlo: .seconds(5), mail: .seconds(5), rcpt: .seconds(5),
            data: .seconds(5), endOfData: .seconds(5), tlsHandshake: .milliseconds(1500))
        let session = try session(server, timeouts: timeouts)
        let failure = try #require(await session.open(tls: .opportunistic))
        #expect(failure.reason == .tlsHandshakeFailed && failure.verdict == .unreachable, "\(failure)")
        #expect(failure.detail?.contains("TLS handshake failed") == true, "\(failure)")
        // From the 220 to STARTTLS to the verdict: the handshake's timeout and a margin.
        let transcript = await session.transcript
        let ready = try #require(transcript.first { $0.text.hasPrefix("220 2.0.0 ready to start TLS") })
        let failed = try #require(transcript.first { $0.text.hasPrefix("<TLS handshake failed") })
        #expect(failed.elapsed - ready.elapsed < .milliseconds(1500) + .seconds(1), "\(transcript)")
        if case .neverFinish = behavior { #expect(failure.detail?.contains("timed out") == true, "\(failure)") }
        // The client closed its socket: the server's side of every connection ended.
        server.stop()
        #expect(await server.waitUntilIdle())
    }

    @Test("close() during the handshake: open() ends at once, and no plaintext QUIT goes out")
    func closeDuringHandshake() async throws {
        let server = try MockSMTPServer.start(tlsScript { $0.tlsHandshake = .neverFinish })
        defer { server.stop() }
        let session = try session(server)
        async let opened = session.open(tls: .opportunistic)
        let deadline = ContinuousClock.now + .seconds(4)
        while server.sessions.first?.commandsBeforeTLS == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        try await Task.sleep(for: .milliseconds(20))  // the ClientHello is out
        let start = ContinuousClock.now
        await session.close()
        let result = await opened
        #expect(ContinuousClock.now - start < .seconds(1))
        #expect(result?.verdict == .unreachable, "\(String(describing: result))")
        #expect(await !session.transcript.contains { $0.text.contains("QUIT") })
    }

    @Test("A TLS alert mid-DATA: a temporary failure with the TLS reason, nothing delivered")
    func alertMidData() async throws {
        let server = try MockSMTPServer.start(tlsScript { $0.tlsAlertMidData = true })
        defer { server.stop() }
        let session = try session(server)
        let start = ContinuousClock.now
        let result = await session.send(from: sender, to: recipient, data: message())
        #expect(ContinuousClock.now - start < .seconds(5))  // ends at the alert, not a timeout
        #expect(result.verdict == .temporaryFailure && result.step == .endOfData, "\(result)")
        #expect(server.deliveryCount == 0)
        #expect(await server.waitUntilIdle())
    }

    @Test("530 before STARTTLS, then STARTTLS: accepted over TLS")
    func requiresTLSThenSucceeds() async throws {
        let server = try MockSMTPServer.start(tlsScript { $0.requiresTLS = true })
        defer { server.stop() }
        let result = await (try session(server)).send(from: sender, to: recipient, data: message())
        #expect(result.verdict == .accepted, "\(result)")
        #expect(server.deliveryCount == 1)
    }
}

@Suite("TLSStream")
struct TLSStreamTests {
    /// The server side of the next connection to `listener`, over TLS.
    private static func server(of listener: TCPListener, _ context: TLSContext) async throws -> TLSStream {
        let connection = try await listener.accept()
        return try await TLSStream.accept(over: connection, context: context, deadline: .now + .seconds(5))
    }

    /// A client connected to `listener` over TLS (SNI mock.test, certificate not verified).
    private static func client(of listener: TCPListener) async throws -> TLSStream {
        let connection = try await TCPConnection.connect(to: listener.localAddress, deadline: .now + .seconds(5))
        return try await TLSStream.connect(
            over: connection, serverName: "mock.test", context: try .opportunisticClient(), deadline: .now + .seconds(5))
    }

    @Test("Client and server over loopback: bytes both ways, close_notify ends the peer's stream")
    func roundTrip() async throws {
        let listener = try TCPListener.bind(to: try SocketAddress(ip: "127.0.0.1", port: 0))
        defer { listener.close() }
        let context = try MockTLSCertificate.serverContext()
        async let served: [UInt8] = {
            let tls = try await Self.server(of: listener, context)
            var received: [UInt8] = []
            while received.count < 100_000 {
                _ = try await tls.read(appendingTo: &received, maxBytes: 64 * 1024, deadline: .now + .seconds(5))
            }
            try await tls.write(Array("ok".utf8), deadline: .now + .seconds(5))
            var rest: [UInt8] = []
            let end = try await tls.read(appendingTo: &rest, maxBytes: 1024, deadline: .now + .seconds(5))
            tls.close()
            return end == 0 ? received : []
        }()
        let tls = try await Self.client(of: listener)
        #expect(tls.protocolVersion == "TLSv1.3")
        let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try await tls.write(payload, deadline: .now + .seconds(5))
        var reply: [UInt8] = []
        _ = try await tls.read(appendingTo: &reply, maxBytes: 1024, deadline: .now + .seconds(5))
        #expect(reply == Array("ok".utf8))
        tls.close()
        #expect(try await served == payload)
    }

    @Test("The client's last handshake flight waits for its first write, or goes with close_notify: the server finishes either way")
    func lastFlightGoesOutWithCloseToo() async throws {
        let listener = try TCPListener.bind(to: try SocketAddress(ip: "127.0.0.1", port: 0))
        defer { listener.close() }
        let context = try MockTLSCertificate.serverContext()
        async let served: Int = {
            // Completes only once the client's Finished arrives (sent with close_notify).
            let tls = try await Self.server(of: listener, context)
            var rest: [UInt8] = []
            let end = try await tls.read(appendingTo: &rest, maxBytes: 1024, deadline: .now + .seconds(5))
            tls.close()
            return end
        }()
        let tls = try await Self.client(of: listener)
        tls.close()  // no write, no read: the Finished goes with close_notify
        #expect(try await served == 0)
    }

    @Test("Closing while another task reads: the read fails and the peer sees the connection end")
    func closeDuringRead() async throws {
        let listener = try TCPListener.bind(to: try SocketAddress(ip: "127.0.0.1", port: 0))
        defer { listener.close() }
        let context = try MockTLSCertificate.serverContext()
        async let served: Int = {
            let tls = try await Self.server(of: listener, context)
            try await tls.write(Array("hello".utf8), deadline: .now + .seconds(5))
            var rest: [UInt8] = []
            // No close_notify comes (the client's engine was busy): end of stream, or reset.
            let end = try? await tls.read(appendingTo: &rest, maxBytes: 1024, deadline: .now + .seconds(5))
            tls.close()
            return end ?? 0
        }()
        let tls = try await Self.client(of: listener)
        var greeting: [UInt8] = []
        _ = try await tls.read(appendingTo: &greeting, maxBytes: 1024, deadline: .now + .seconds(5))
        #expect(greeting == Array("hello".utf8))
        let reader = Task {
            var more: [UInt8] = []
            do {
                _ = try await tls.read(appendingTo: &more, maxBytes: 1024, deadline: .now + .seconds(5))
                return "read"
            } catch {
                return "failed"
            }
        }
        try await Task.sleep(for: .milliseconds(50))  // the reader holds the engine, waiting
        tls.close()
        #expect(await reader.value == "failed")
        #expect(try await served == 0)
    }

    @Test("A peer that speaks no TLS: a .tls error with OpenSSL's reason")
    func notTLS() async throws {
        let listener = try TCPListener.bind(to: try SocketAddress(ip: "127.0.0.1", port: 0))
        defer { listener.close() }
        async let serve: Void = {
            let connection = try await listener.accept()
            _ = try await connection.read(deadline: .now + .seconds(5))
            try await connection.write(Array("220 this is not TLS\r\n".utf8), deadline: .now + .seconds(5))
            _ = try? await connection.read(deadline: .now + .seconds(5))
            connection.close()
        }()
        let connection = try await TCPConnection.connect(to: listener.localAddress, deadline: .now + .seconds(5))
        defer { connection.close() }
        await #expect {
            _ = try await TLSStream.connect(
                over: connection, serverName: nil, context: try .opportunisticClient(), deadline: .now + .seconds(5))
        } throws: { error in
            guard let error = error as? SocketError else { return false }
            return error.code == .tls && error.message.contains("failed: ") && !error.message.hasSuffix("failed: ")
        }
        connection.close()
        try await serve
    }
}
#endif
