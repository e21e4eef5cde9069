import Sockets
import Testing

@Suite("Bad input gives a clear SocketError", .timeLimit(.minutes(1)))
struct BadInputTests {
    @Test(
        "host strings that are not numeric addresses",
        arguments: ["localhost", "mx.example.com", "", "1.2.3", "1.2.3.4.5", "::g", "[::1", "256.1.1.1", "127.0.0.1\0"])
    func unknownHost(host: String) {
        #expect(throws: SocketError.self) { _ = try SocketAddress(ip: host, port: 25) }
        do {
            _ = try SocketAddress(ip: host, port: 25)
        } catch {
            #expect(error.code == .invalidAddress)
        }
    }

    @Test("isLoopback: 127.0.0.0/8 and ::1 only (an IPv6 address starting with 127 is not)", arguments: [
        ("127.0.0.1", true), ("127.255.0.9", true), ("::1", true), ("7f00::1", false),
        ("::ffff:127.0.0.1", false), ("10.0.0.1", false), ("::", false), ("128.0.0.1", false),
    ])
    func loopback(ip: String, expected: Bool) throws {
        #expect(try SocketAddress(ip: ip, port: 0).isLoopback == expected)
    }

    @Test("isPublic: special-purpose ranges are not public (RFC 6890)", arguments: [
        ("93.184.216.34", true), ("8.8.8.8", true), ("2606:4700::1111", true),
        ("10.0.0.1", false), ("172.16.0.1", false), ("172.31.255.255", false), ("172.32.0.1", true),
        ("192.168.0.1", false), ("127.0.0.1", false), ("0.0.0.0", false), ("169.254.169.254", false),
        ("100.64.0.1", false), ("100.128.0.1", true), ("192.0.2.1", false), ("198.18.0.1", false),
        ("224.0.0.1", false), ("255.255.255.255", false), ("::", false), ("::1", false),
        ("fc00::1", false), ("fd12::1", false), ("fe80::1", false), ("ff02::1", false),
        ("2001:db8::1", false), ("::ffff:10.0.0.1", false), ("::ffff:93.184.216.34", true),
        ("3fff::1", false), ("3ffe::1", true), ("4000::1", false),
        ("64:ff9b::a00:1", false), ("64:ff9b::5db8:d822", true), ("64:ff9b:1::1", false),
        ("2002:a00:1::1", false), ("2002:5db8:d822::1", true), ("2001:0:4136:e378::1", false),
        ("2001:2::1", false), ("2001:200::1", true),
    ])
    func publicAddresses(ip: String, expected: Bool) throws {
        #expect(try SocketAddress(ip: ip, port: 0).isPublic == expected, "\(ip)")
    }

    @Test("ports outside 0...65535", arguments: [-1, 65_536, 1 << 40])
    func badPort(port: Int) {
        do {
            _ = try SocketAddress(ip: "127.0.0.1", port: port)
            Issue.record("port \(port) was accepted")
        } catch {
            #expect(error.code == .invalidAddress)
        }
    }

    @Test("HOST:PORT parsing", arguments: [
        ("127.0.0.1:53", "127.0.0.1:53"), ("[::1]:5353", "[::1]:5353"), ("::1", "[::1]:53"), ("10.0.0.1", "10.0.0.1:53"),
    ])
    func parsing(text: String, expected: String) throws {
        #expect(try SocketAddress(parsing: text, defaultPort: 53).description == expected)
    }

    @Test("connecting to port 0 is refused before any system call")
    func connectPortZero() async {
        do {
            _ = try await TCPConnection.connect(to: loopbackV4, deadline: after(1000))
            Issue.record("connected to port 0")
        } catch {
            #expect(error.code == .invalidAddress)
        }
    }

    @Test("a deadline in the past fails with timedOut, without a system call")
    func pastDeadline() async throws {
        let server = try EchoServer()
        do {
            _ = try await TCPConnection.connect(to: server.address, deadline: .now - .seconds(1))
            Issue.record("connected with a past deadline")
        } catch {
            #expect(error.code == .timedOut)
        }
        let connection = try await TCPConnection.connect(to: server.address, deadline: after(1000))
        defer { connection.close() }
        do {
            _ = try await connection.read(deadline: .now - .milliseconds(1))
            Issue.record("read with a past deadline")
        } catch {
            #expect(error.code == .timedOut)
        }
        await server.stop()
    }

    @Test("a closed socket used again fails with closed; close is idempotent")
    func useAfterClose() async throws {
        let server = try EchoServer()
        let connection = try await TCPConnection.connect(to: server.address, deadline: after(1000))
        connection.close()
        connection.close()
        #expect(connection.isClosed)
        do {
            try await connection.write([1, 2, 3], deadline: after(1000))
            Issue.record("wrote to a closed socket")
        } catch {
            #expect(error.code == .closed)
        }
        do {
            _ = try await connection.read(deadline: after(1000))
            Issue.record("read from a closed socket")
        } catch {
            #expect(error.code == .closed)
        }
        await server.stop()
    }

    @Test("closing a socket fails a read suspended on it")
    func closeDuringRead() async throws {
        let server = try EchoServer()
        let connection = try await TCPConnection.connect(to: server.address, deadline: after(1000))
        let reader = Task {
            await socketError { () async throws(SocketError) in try await connection.read(deadline: after(5000)) }
        }
        try await Task.sleep(for: .milliseconds(20))
        connection.close()
        #expect(await reader.value?.code == .closed)
        await server.stop()
    }

    @Test("two concurrent reads on one socket: the second is refused as busy")
    func concurrentReads() async throws {
        let server = try EchoServer()
        let connection = try await TCPConnection.connect(to: server.address, deadline: after(1000))
        defer { connection.close() }
        let first = Task { try? await connection.read(deadline: after(2000)) }
        try await Task.sleep(for: .milliseconds(20))
        do {
            _ = try await connection.read(deadline: after(1000))
            Issue.record("a second concurrent read was allowed")
        } catch {
            #expect(error.code == .busy)
        }
        try await connection.write([42], deadline: after(1000))
        #expect(await first.value == [42])
        await server.stop()
    }

    @Test("binding an address in use fails with addressInUse")
    func addressInUse() throws {
        let first = try TCPListener.bind(to: loopbackV4)
        defer { first.close() }
        do {
            _ = try TCPListener.bind(to: first.localAddress)
            Issue.record("bound the same address twice")
        } catch {
            #expect(error.code == .addressInUse)
        }
    }

    @Test("a loop that was shut down fails its waiters and later operations")
    func shutdown() async throws {
        let loop = EventLoop()
        let listener = try TCPListener.bind(to: loopbackV4, loop: loop)
        defer { listener.close() }
        let acceptor = Task {
            await socketError { () async throws(SocketError) in try await listener.accept(deadline: after(5000)) }
        }
        try await Task.sleep(for: .milliseconds(20))
        loop.shutdown()
        #expect(await acceptor.value?.code == .loopShutdown)
        do {
            _ = try TCPListener.bind(to: loopbackV4, loop: loop)
            Issue.record("registered on a loop that was shut down")
        } catch {
            #expect(error.code == .loopShutdown)
        }
    }
}

@Suite("Regressions found in review", .timeLimit(.minutes(1)))
struct SocketRegressionTests {
    @Test("connect never reports success before the handshake (stale first EPOLLOUT)")
    func noEarlyConnectSuccess() async throws {
        let listener = try TCPListener.bind(to: loopbackV4, backlog: 0)
        defer { listener.close() }
        var filled: [TCPConnection] = []
        defer { filled.forEach { $0.close() } }
        for _ in 0..<16 {
            guard let connection = try? await TCPConnection.connect(to: listener.localAddress, deadline: after(100)) else {
                break
            }
            filled.append(connection)
        }
        // With the accept queue full, every further connect must time out; before the fix
        // some "succeeded" with a socket still in SYN_SENT.
        var early = 0
        for _ in 0..<100 {
            if let connection = try? await TCPConnection.connect(to: listener.localAddress, deadline: after(20)) {
                early += 1
                connection.close()
            }
        }
        #expect(early == 0)
    }

    @Test("a deadline centuries away neither traps nor fires")
    func farDeadline() async throws {
        let server = try EchoServer()
        let connection = try await TCPConnection.connect(to: server.address, deadline: after(1000))
        defer { connection.close() }
        let reader = Task {
            await socketError { () async throws(SocketError) in
                try await connection.read(deadline: .now + .seconds(Int64.max / 4))
            }
        }
        try await Task.sleep(for: .milliseconds(20))
        try await connection.write([1], deadline: after(1000))
        #expect(await reader.value == nil)
        await server.stop()
    }

    @Test("an absurd maxBytes reads normally instead of exhausting memory")
    func hugeMaxBytes() async throws {
        let server = try EchoServer()
        let connection = try await TCPConnection.connect(to: server.address, deadline: after(1000))
        defer { connection.close() }
        try await connection.write([1, 2, 3], deadline: after(1000))
        var received: [UInt8] = []
        while received.count < 3 {
            _ = try await connection.read(appendingTo: &received, maxBytes: 1 << 40, deadline: after(1000))
        }
        #expect(received == [1, 2, 3])
        await server.stop()
    }
}
