#if OpenSSL
import DirectSMTPTesting
import SMTPClient
import Sockets
import Testing

/// One TLS handshake over a fresh loopback connection to `server`, with `context`;
/// returns whether it resumed. The server side reads one record so that the client's
/// read processes the server's ticket (TLS 1.3 sends it after the handshake).
private func handshake(
    to listener: TCPListener, serverContext: TLSContext, client: TLSContext, name: String?
) async throws -> Bool {
    async let served: Void = {
        let connection = try await listener.accept()
        let tls = try await TLSStream.accept(over: connection, context: serverContext, deadline: .now + .seconds(5))
        try await tls.write(Array("hello".utf8), deadline: .now + .seconds(5))
        var rest: [UInt8] = []
        _ = try? await tls.read(appendingTo: &rest, maxBytes: 1024, deadline: .now + .seconds(5))
        tls.close()
    }()
    let connection = try await TCPConnection.connect(to: listener.localAddress, deadline: .now + .seconds(5))
    let tls = try await TLSStream.connect(
        over: connection, serverName: name, context: client, deadline: .now + .seconds(5))
    var greeting: [UInt8] = []
    _ = try await tls.read(appendingTo: &greeting, maxBytes: 1024, deadline: .now + .seconds(5))
    #expect(greeting == Array("hello".utf8))
    let resumed = tls.resumed
    tls.close()
    try await served
    return resumed
}

@Suite("TLS session resumption", .serialized)
struct TLSResumptionTests {
    @Test("The second handshake with the same name and address resumes; another name does not")
    func resumesPerNameAndAddress() async throws {
        let listener = try TCPListener.bind(to: try SocketAddress(ip: "127.0.0.1", port: 0))
        defer { listener.close() }
        let server = try MockTLSCertificate.serverContext()
        let cache = TLSSessionCache()
        let client = try TLSContext.client(sessionCache: cache)
        #expect(try await handshake(to: listener, serverContext: server, client: client, name: "mx.a.test") == false)
        #expect(cache.count == 1)
        #expect(try await handshake(to: listener, serverContext: server, client: client, name: "mx.a.test") == true)
        #expect(try await handshake(to: listener, serverContext: server, client: client, name: "mx.b.test") == false)
        #expect(cache.count == 2)
    }

    @Test("A server that issues no tickets: every handshake is a full one, nothing kept")
    func noTickets() async throws {
        let listener = try TCPListener.bind(to: try SocketAddress(ip: "127.0.0.1", port: 0))
        defer { listener.close() }
        let server = try MockTLSCertificate.serverContext(sessionTickets: 0)
        let cache = TLSSessionCache()
        let client = try TLSContext.client(sessionCache: cache)
        for _ in 0..<2 {
            #expect(try await handshake(to: listener, serverContext: server, client: client, name: "mx.a.test") == false)
        }
        #expect(cache.count == 0)
    }

    @Test("Bounded: at most its capacity; expired sessions are not used")
    func boundedAndExpiring() async throws {
        let listener = try TCPListener.bind(to: try SocketAddress(ip: "127.0.0.1", port: 0))
        defer { listener.close() }
        let server = try MockTLSCertificate.serverContext()
        let cache = TLSSessionCache(capacity: 8)
        let client = try TLSContext.client(sessionCache: cache)
        for index in 0..<12 {
            _ = try await handshake(to: listener, serverContext: server, client: client, name: "mx\(index).test")
            #expect(cache.count <= 8)
        }
        let expiring = try TLSContext.client(sessionCache: TLSSessionCache(lifetime: .zero))
        for _ in 0..<2 {
            #expect(try await handshake(to: listener, serverContext: server, client: expiring, name: "mx.a.test") == false)
        }
    }

    @Test("A TLS 1.3 ticket is used once: concurrent connections to one server each resume with a ticket of their own")
    func concurrentConnectionsEachResume() async throws {
        let listener = try TCPListener.bind(to: try SocketAddress(ip: "127.0.0.1", port: 0))
        defer { listener.close() }
        let server = try MockTLSCertificate.serverContext()
        let cache = TLSSessionCache(sessionsPerServer: 4)
        let client = try TLSContext.client(sessionCache: cache)
        func round(_ connections: Int) async throws -> [Bool] {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<connections {
                    group.addTask {
                        try await handshake(to: listener, serverContext: server, client: client, name: "mx.a.test")
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        // Every handshake brings one ticket: five of them, four kept (the cap).
        _ = try await round(5)
        #expect(cache.count == 4)
        // A resumes and has not read its new ticket yet (it comes after the handshake):
        // B, starting now, still resumes, with a ticket of its own. (Handing B the ticket
        // A used would fail: OpenSSL marks a TLS 1.3 session unresumable once used.)
        let pending = Task {
            let connection = try await listener.accept()
            let tls = try await TLSStream.accept(over: connection, context: server, deadline: .now + .seconds(5))
            var rest: [UInt8] = []
            _ = try? await tls.read(appendingTo: &rest, maxBytes: 1024, deadline: .now + .seconds(5))
            tls.close()
        }
        let connection = try await TCPConnection.connect(to: listener.localAddress, deadline: .now + .seconds(5))
        let first = try await TLSStream.connect(
            over: connection, serverName: "mx.a.test", context: client, deadline: .now + .seconds(5))
        #expect(first.resumed)
        #expect(cache.count == 3)
        #expect(try await handshake(to: listener, serverContext: server, client: client, name: "mx.a.test"))
        first.close()
        try await pending.value
        // One at a time: each resumes with the ticket the one before left.
        for _ in 0..<3 {
            #expect(try await handshake(to: listener, serverContext: server, client: client, name: "mx.a.test"))
        }
    }

    @Test("SMTP sessions resume per MX host: the second session's TLS says so, in the transcript too")
    func smtpSessionsResume() async throws {
        let server = try MockSMTPServer.start { $0.offersStartTLS = true }
        defer { server.stop() }
        let configuration = try SMTPSessionConfiguration(heloName: "client.test", timeouts: .uniform(.seconds(5)))
        var resumed: [Bool] = []
        for _ in 0..<2 {
            let session = SMTPSession(server: server.address, configuration: configuration)
            #expect(await session.open(tls: .required, serverName: "mx.resume.test") == nil)
            let tls = try #require(await session.tls)
            resumed.append(tls.resumed)
            if tls.resumed {
                #expect(await session.transcript.contains { $0.text.hasSuffix(", resumed>") })
            }
            await session.close()
        }
        #expect(resumed == [false, true])
        #expect(await server.waitUntilIdle())
        #expect(server.sessions.allSatisfy { $0.tls?.serverName == "mx.resume.test" })
    }
}
#endif
