import Sockets
import Testing

@Suite("UDP sockets", .timeLimit(.minutes(1)))
struct UDPTests {
    @Test("a datagram round trip between a bound and a connected socket")
    func roundTrip() async throws {
        let server = try UDPSocket.bind(to: loopbackV4)
        defer { server.close() }
        let client = try UDPSocket.connect(to: server.localAddress)
        defer { client.close() }
        #expect(client.localAddress.port != 0)

        try await client.send(Array("query".utf8), deadline: after(1000))
        let (query, source) = try await server.receive(deadline: after(1000))
        #expect(query == Array("query".utf8))
        #expect(source == client.localAddress)
        try await server.send(Array("answer".utf8), to: source, deadline: after(1000))
        let (answer, from) = try await client.receive(deadline: after(1000))
        #expect(answer == Array("answer".utf8))
        #expect(from == server.localAddress)
    }

    @Test("a connected socket ignores a datagram from an unexpected source")
    func unexpectedSource() async throws {
        let server = try UDPSocket.bind(to: loopbackV4)
        defer { server.close() }
        let intruder = try UDPSocket.bind(to: loopbackV4)
        defer { intruder.close() }
        let client = try UDPSocket.connect(to: server.localAddress)
        defer { client.close() }

        try await intruder.send(Array("spoofed".utf8), to: client.localAddress, deadline: after(1000))
        try await server.send(Array("genuine".utf8), to: client.localAddress, deadline: after(1000))
        let (bytes, from) = try await client.receive(deadline: after(1000))
        #expect(bytes == Array("genuine".utf8))
        #expect(from == server.localAddress)
        // Nothing else is waiting: the spoofed datagram never reached the socket.
        await #expect(throws: SocketError.self) { _ = try await client.receive(deadline: after(50)) }
    }

    @Test("a receive with nothing to read times out at its deadline")
    func receiveTimeout() async throws {
        let socket = try UDPSocket.bind(to: loopbackV4)
        defer { socket.close() }
        let lateness = try await bestOf(5) {
            let (error, elapsed) = await timed {
                await socketError { () async throws(SocketError) in try await socket.receive(deadline: after(100)) }
            }
            #expect(error?.code == .timedOut)
            try #require(elapsed >= .milliseconds(100), "timed out early, after \(elapsed)")
            return elapsed - .milliseconds(100)
        }
        #expect(lateness.best <= .milliseconds(25), "at best \(lateness.best) late")
        #expect(lateness.worst <= .seconds(2), "at worst \(lateness.worst) late")
    }
}
