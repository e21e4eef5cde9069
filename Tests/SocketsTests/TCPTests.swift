import DirectSMTPTesting
import Foundation
import Sockets
import Testing

@Suite("TCP connections", .timeLimit(.minutes(1)))
struct TCPTests {
    @Test("echo round trip over IPv4 and IPv6 loopback", arguments: ["127.0.0.1", "::1"])
    func echo(ip: String) async throws {
        if ip == "::1", !hasIPv6Loopback {
            // Said plainly rather than silently passing: this machine has no ::1.
            print("skipping the ::1 echo: this machine has no IPv6 loopback")
            return
        }
        let server = try EchoServer(on: SocketAddress(ip: ip, port: 0))
        let connection = try await TCPConnection.connect(to: server.address, deadline: after(2000))
        defer { connection.close() }
        let message = Array("hello over \(ip)".utf8)
        for _ in 0..<10 {
            try await connection.write(message, deadline: after(2000))
            #expect(try await readExactly(message.count, from: connection, deadline: after(2000)) == message)
        }
        #expect(connection.remoteAddress.isIPv6 == (ip == "::1"))
        #expect(connection.localAddress?.ip == ip)
        await server.stop()
    }

    @Test("a large write completes through a full send buffer")
    func largeWrite() async throws {
        let server = try EchoServer()
        let connection = try await TCPConnection.connect(to: server.address, deadline: after(2000))
        defer { connection.close() }
        let payload = await offThePool { (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) } }
        let bound = ContinuousClock.now + TimingScale.scaled(.seconds(20))
        async let echoed = readExactly(payload.count, from: connection, deadline: bound)
        try await connection.write(payload, deadline: bound)
        let received = try await echoed
        #expect(await offThePool { received == payload })
        await server.stop()
    }

    @Test("connection refused fails at once with its code")
    func refused() async throws {
        let listener = try TCPListener.bind(to: loopbackV4)
        let address = listener.localAddress
        listener.close()
        let (error, elapsed) = await timed {
            await socketError { () async throws(SocketError) in try await TCPConnection.connect(to: address, deadline: after(2000)) }
        }
        #expect(error?.code == .connectionRefused)
        #expect(error?.errno == ECONNREFUSED)
        // "At once": long before the 2 s deadline, even on a loaded machine.
        #expect(elapsed < .seconds(1))
    }

    @Test("connect to a listener with a full accept backlog times out at its deadline")
    func fullBacklog() async throws {
        let listener = try TCPListener.bind(to: loopbackV4, backlog: 0)
        defer { listener.close() }
        // Fill the accept queue: connect until one attempt no longer completes.
        var filled: [TCPConnection] = []
        defer { filled.forEach { $0.close() } }
        var blocked = false
        for _ in 0..<16 {
            do {
                filled.append(try await TCPConnection.connect(to: listener.localAddress, deadline: after(100)))
            } catch {
                #expect(error.code == .timedOut)
                blocked = true
                break
            }
        }
        try #require(blocked, "the kernel kept accepting connections past a backlog of 0")
        let lateness = try await bestOf(5) {
            let (error, elapsed) = await timed {
                await socketError { () async throws(SocketError) in
                    try await TCPConnection.connect(to: listener.localAddress, deadline: after(150))
                }
            }
            #expect(error?.code == .timedOut)
            try #require(elapsed >= .milliseconds(150), "timed out early, after \(elapsed)")
            return elapsed - .milliseconds(150)
        }
        #expect(lateness.best <= .milliseconds(50), "at best \(lateness.best) late")
        #expect(lateness.worst <= .seconds(2), "at worst \(lateness.worst) late")
    }

    @Test("data and the peer's close in one edge: the end of stream is seen at once, not at the deadline")
    func endOfStreamAfterData() async throws {
        let listener = try TCPListener.bind(to: SocketAddress(ip: "127.0.0.1", port: 0))
        defer { listener.close() }
        let server = Task {
            let accepted = try await listener.accept()
            try await accepted.write(Array("220 half a rep".utf8), deadline: after(2000))
            accepted.close()
        }
        let client = try await TCPConnection.connect(to: listener.localAddress, deadline: after(2000))
        defer { client.close() }
        try await server.value
        // Both the bytes and the FIN are queued now, and the loop has seen them as one edge.
        try await Task.sleep(for: .milliseconds(50))
        let start = ContinuousClock.now
        var buffer: [UInt8] = []
        var reads = 0
        while try await client.read(appendingTo: &buffer, deadline: after(3000)) > 0 {
            reads += 1
            try #require(reads < 100)
        }
        #expect(String(decoding: buffer, as: UTF8.self) == "220 half a rep")
        #expect(start.duration(to: .now) < .seconds(1), "the end of stream waited for the deadline")
    }

    @Test("a server that never writes: the read times out at its deadline")
    func readTimeout() async throws {
        let listener = try TCPListener.bind(to: loopbackV4)
        defer { listener.close() }
        let client = try await TCPConnection.connect(to: listener.localAddress, deadline: after(2000))
        defer { client.close() }
        let server = try await listener.accept(deadline: after(2000))
        defer { server.close() }
        let lateness = try await bestOf(5) {
            let (error, elapsed) = await timed {
                await socketError { () async throws(SocketError) in try await client.read(deadline: after(100)) }
            }
            #expect(error?.code == .timedOut)
            try #require(elapsed >= .milliseconds(100), "timed out early, after \(elapsed)")
            return elapsed - .milliseconds(100)
        }
        #expect(lateness.best <= .milliseconds(25), "at best \(lateness.best) late")
        #expect(lateness.worst <= .seconds(2), "at worst \(lateness.worst) late")
    }

    @Test("the peer closing mid-read gives what was sent, then a clean end of stream")
    func peerCloses() async throws {
        let listener = try TCPListener.bind(to: loopbackV4)
        defer { listener.close() }
        let client = try await TCPConnection.connect(to: listener.localAddress, deadline: after(2000))
        defer { client.close() }
        let server = try await listener.accept(deadline: after(2000))
        Task {
            try await server.write(Array("250 partial".utf8), deadline: after(1000))
            try await Task.sleep(for: .milliseconds(20))
            server.close()
        }
        let received = try await readExactly(100, from: client, deadline: after(2000))
        #expect(received == Array("250 partial".utf8))
        #expect(try await client.read(deadline: after(1000)).isEmpty)
    }

    @Test("cancelling a blocked read releases it at once and disturbs no other connection")
    func cancelRead() async throws {
        let server = try EchoServer()
        let victim = try await TCPConnection.connect(to: server.address, deadline: after(2000))
        defer { victim.close() }
        let bystander = try await TCPConnection.connect(to: server.address, deadline: after(2000))
        defer { bystander.close() }

        let bystanderEcho = Task {
            try await bystander.write(Array("still here".utf8), deadline: after(2000))
            return try await readExactly(10, from: bystander, deadline: after(2000))
        }
        let release = try await bestOf(5) {
            let reader = Task(executorPreference: EventLoop.shared) { () -> (SocketError?, ContinuousClock.Instant) in
                let error = await socketError { () async throws(SocketError) in try await victim.read() }
                return (error, ContinuousClock.now)
            }
            try await Task.sleep(for: .milliseconds(30))
            let cancelledAt = ContinuousClock.now
            reader.cancel()
            let (error, endedAt) = await reader.value
            #expect(error?.code == .cancelled)
            return cancelledAt.duration(to: endedAt)
        }
        #expect(release.best <= .milliseconds(25), "released at best \(release.best) after cancel")
        #expect(release.worst <= .seconds(2), "released at worst \(release.worst) after cancel")
        #expect(try await bystanderEcho.value == Array("still here".utf8))
        // The cancelled connection itself still works.
        try await victim.write(Array("after".utf8), deadline: after(2000))
        #expect(try await readExactly(5, from: victim, deadline: after(2000)) == Array("after".utf8))
        await server.stop()
    }

    @Test("1,000 concurrent connections all complete and every fd is closed afterwards")
    func thousandConnections() async throws {
        let server = try EchoServer()
        let results = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<1000 {
                group.addTask {
                    do {
                        let connection = try await TCPConnection.connect(to: server.address, deadline: after(10_000))
                        defer { connection.close() }
                        let message = Array("connection \(index)".utf8)
                        try await connection.write(message, deadline: after(10_000))
                        return try await readExactly(message.count, from: connection, deadline: after(10_000)) == message
                    } catch {
                        return false
                    }
                }
            }
            var ok = 0
            for await result in group where result { ok += 1 }
            return ok
        }
        #expect(results == 1000)
        #expect(openSocketCount(port: server.address.port) >= 1, "the listener itself should be seen")
        await server.stop()
        // Every fd of either end is closed: no socket of ours on the server's port is left
        // (read from /proc/net/tcp, which other tests' fds cannot disturb).
        let port = server.address.port
        let deadline = after(5000)
        while openSocketCount(port: port) != 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(openSocketCount(port: port) == 0)
    }
}
