import DirectSMTPTesting
import Sockets
import Testing

@testable import SMTPClient

private let sender = try! EmailAddress("app@sender.example")
private let recipient = try! EmailAddress("jane@example.com")

private func makeSession(_ address: SocketAddress, timeouts: SMTPTimeouts = .uniform(.seconds(5))) throws
    -> SMTPSession
{
    SMTPSession(
        server: address,
        configuration: try SMTPSessionConfiguration(heloName: "client.test", timeouts: timeouts))
}

private func message(_ text: String = "Your code is 123456.") -> MessageData {
    Message(from: sender, to: recipient, subject: "Welcome", text: text).encoded()
}

/// A caller's deadline (its budget) interrupts a transaction without cutting it: the
/// session stops at a wait, and `resume()` from another task carries it on.
@Suite("SMTPSession interrupted at the caller's deadline")
struct SMTPSessionInterruptionTests {
    @Test("Interrupted while the RCPT reply is due, resumed: delivered once")
    func interruptedAtReply() async throws {
        let server = try MockSMTPServer.start {
            $0.rcpt = .reply(250, "2.1.5 recipient OK").delayed(by: .seconds(2))
        }
        defer { server.stop() }
        let session = try makeSession(server.address)
        #expect(await session.open() == nil)
        let clock = ContinuousClock()
        let start = clock.now
        let progress = await session.send(
            from: sender, to: recipient, data: message(), interruptAt: start + .milliseconds(60))
        let interruptedAfter = clock.now - start
        #expect(progress == .interrupted)
        #expect(interruptedAfter < .milliseconds(1500), "before the reply: \(interruptedAfter)")
        #expect(await session.result == nil)

        // A second transaction cannot start on the interrupted one.
        let second = await session.probe(from: sender, to: recipient)
        #expect(second.verdict == .temporaryFailure)

        let resumed = await Task { await session.resume() }.value
        #expect(resumed.verdict == .accepted, "\(resumed)")
        #expect(await session.result == resumed)
        #expect(await session.resume() == resumed)  // nothing left to resume: the verdict
        #expect(await server.waitUntilIdle())
        #expect(server.deliveries.count == 1)
        let commands = try #require(server.sessions.first).commands
        #expect(commands.filter { $0.hasPrefix("MAIL FROM") }.count == 1, "\(commands)")
        #expect(commands.filter { $0.hasPrefix("RCPT TO") }.count == 1, "\(commands)")
    }

    @Test("Cancelling the caller interrupts instead of failing; resume finishes")
    func cancellationInterrupts() async throws {
        let server = try MockSMTPServer.start {
            $0.endOfData = .reply(250, "2.0.0 queued").delayed(by: .seconds(2))
        }
        defer { server.stop() }
        let session = try makeSession(server.address)
        let caller = Task {
            await session.send(
                from: sender, to: recipient, data: message(), interruptAt: .now + .seconds(10))
        }
        // Cancelled once the transaction is under way (DATA sent), not while opening.
        let giveUp = ContinuousClock.now + .seconds(5)
        while server.sessions.first?.commands.contains("DATA") != true, ContinuousClock.now < giveUp {
            try await Task.sleep(for: .milliseconds(5))
        }
        caller.cancel()
        #expect(await caller.value == .interrupted)
        let resumed = await session.resume()
        #expect(resumed.verdict == .accepted, "\(resumed)")
        #expect(await server.waitUntilIdle(timeout: .seconds(5)))
        #expect(server.deliveries.count == 1)
    }

    @Test("A deadline already passed: interrupted before writing; resume runs it all")
    func deadlineAlreadyPassed() async throws {
        let server = try MockSMTPServer.start()
        defer { server.stop() }
        let session = try makeSession(server.address)
        #expect(await session.open() == nil)
        let progress = await session.send(
            from: sender, to: recipient, data: message(), interruptAt: .now - .seconds(1))
        #expect(progress == .interrupted)
        let resumed = await session.resume()
        #expect(resumed.verdict == .accepted, "\(resumed)")
        #expect(await server.waitUntilIdle(timeout: .seconds(5)))
        #expect(server.deliveries.count == 1)
    }

    @Test("A verdict before the deadline is returned as finished")
    func finishesBeforeDeadline() async throws {
        let server = try MockSMTPServer.start { $0.rcpt = .reply(550, "5.1.1 no such user") }
        defer { server.stop() }
        let session = try makeSession(server.address)
        let progress = await session.probe(from: sender, to: recipient, interruptAt: .now + .seconds(5))
        guard case .finished(let result) = progress else {
            Issue.record("interrupted: \(progress)")
            return
        }
        #expect(result.verdict == .recipientRejected)
    }

    @Test("The step timeout still fails the step when it comes before the deadline")
    func stepTimeoutBeforeDeadline() async throws {
        let server = try MockSMTPServer.start { $0.rcpt = .silence }
        defer { server.stop() }
        var timeouts = SMTPTimeouts.uniform(.seconds(5))
        for step in [\SMTPTimeouts.mail, \.rcpt, \.data] { timeouts[keyPath: step] = .milliseconds(150) }
        let session = try makeSession(server.address, timeouts: timeouts)
        let progress = await session.send(
            from: sender, to: recipient, data: message(), interruptAt: .now + .seconds(5))
        guard case .finished(let result) = progress else {
            Issue.record("interrupted: \(progress)")
            return
        }
        #expect(result.verdict == .temporaryFailure)
        #expect(result.detail?.contains("timed out") == true, "\(result)")
    }

    @Test("open(until:) gives up at the deadline, before the step's own timeout")
    func openUntil() async throws {
        let server = try MockSMTPServer.start { $0.greeting = .silence }
        defer { server.stop() }
        let session = try makeSession(server.address, timeouts: .uniform(.seconds(10)))
        let clock = ContinuousClock()
        let start = clock.now
        let result = await session.open(until: start + .milliseconds(100))
        #expect(result?.verdict == .unreachable)
        #expect(result?.step == .greeting)
        #expect(clock.now - start < .seconds(1))
    }

    @Test("Interrupted in the middle of the message: resume writes the rest, byte for byte")
    func interruptedMidMessage() async throws {
        // Large enough to fill the loopback send and receive buffers while the server
        // does not read, so the interruption lands inside the message's write.
        let line = String(repeating: "x", count: 76) + "\r\n"
        let body = String(repeating: line, count: 200_000)  // about 15 MB
        let data = MessageData(bytes: Array(body.utf8), messageID: "<big@test>")
        var expected: [UInt8] = []
        var chunker = SMTPMessageChunker(data.bytes)
        var chunk: [UInt8] = []
        while !chunker.isDone {
            chunker.next(into: &chunk)
            expected += chunk
        }

        let dataAccepted = AsyncStream<Void>.makeStream()
        let listener = try TCPListener.bind(to: SocketAddress(ip: "127.0.0.1", port: 0))
        defer { listener.close() }
        let server = Task { () throws -> [UInt8] in
            let connection = try await listener.accept(deadline: .now + .seconds(5))
            defer { connection.close() }
            var reader = LineReader(connection)
            try await connection.write(Array("220 raw.test ESMTP\r\n".utf8))
            #expect(try await reader.line().hasPrefix("EHLO"))
            try await connection.write(Array("250 raw.test\r\n".utf8))  // no PIPELINING
            #expect(try await reader.line().hasPrefix("MAIL FROM"))
            try await connection.write(Array("250 ok\r\n".utf8))
            #expect(try await reader.line().hasPrefix("RCPT TO"))
            try await connection.write(Array("250 ok\r\n".utf8))
            #expect(try await reader.line() == "DATA")
            try await connection.write(Array("354 go on\r\n".utf8))
            dataAccepted.continuation.yield()
            try await Task.sleep(for: .seconds(1))  // not reading meanwhile
            let content = try await reader.bytes(endingWith: Array("\r\n.\r\n".utf8))
            try await connection.write(Array("250 2.0.0 queued\r\n".utf8))
            return content
        }

        let session = try makeSession(listener.localAddress, timeouts: .uniform(.seconds(30)))
        // Cancelled (which interrupts, as a deadline does) once the message is flowing:
        // 300 ms after DATA's 354 the client has long filled the socket buffers.
        let caller = Task {
            await session.send(from: sender, to: recipient, data: data, interruptAt: .now + .seconds(30))
        }
        for await _ in dataAccepted.stream.prefix(1) {}
        try await Task.sleep(for: .milliseconds(300))
        caller.cancel()
        #expect(await caller.value == .interrupted)
        // Still inside the message: its transcript line comes once it is all written.
        #expect(await !session.transcript.contains { $0.text.hasPrefix("<message") })
        let resumed = await session.resume()
        #expect(resumed.verdict == .accepted, "\(resumed)")
        let received = try await server.value
        dataAccepted.continuation.finish()
        #expect(received.count == expected.count)
        #expect(received == expected)
    }
}

/// Reads CRLF lines and raw bytes from a connection (the raw test server's side).
private struct LineReader {
    let connection: TCPConnection
    var buffer: [UInt8] = []

    init(_ connection: TCPConnection) {
        self.connection = connection
    }

    mutating func line() async throws -> String {
        let bytes = try await self.bytes(through: [13, 10])
        return String(decoding: bytes.dropLast(2), as: UTF8.self)
    }

    /// Everything read until the bytes so far end with `terminator` (the peer then waits
    /// for an answer, so nothing follows): checks only the end, fast for a large message.
    mutating func bytes(endingWith terminator: [UInt8]) async throws -> [UInt8] {
        while !buffer.suffix(terminator.count).elementsEqual(terminator) {
            let count = try await connection.read(
                appendingTo: &buffer, maxBytes: 1 << 20, deadline: .now + .seconds(20))
            if count == 0 { throw SocketError(.closed, "the client closed") }
        }
        defer { buffer = [] }
        return buffer
    }

    /// Everything up to and including the first occurrence of `terminator`.
    mutating func bytes(through terminator: [UInt8]) async throws -> [UInt8] {
        var searchFrom = 0
        while true {
            if buffer.count >= terminator.count {
                var index = searchFrom
                while index + terminator.count <= buffer.count {
                    if buffer[index] == terminator[0],
                        buffer[index..<(index + terminator.count)].elementsEqual(terminator)
                    {
                        let end = index + terminator.count
                        defer { buffer.removeFirst(end) }
                        return Array(buffer[..<end])
                    }
                    index += 1
                }
                searchFrom = max(0, buffer.count - terminator.count + 1)
            }
            let count = try await connection.read(
                appendingTo: &buffer, maxBytes: 1 << 20, deadline: .now + .seconds(5))
            if count == 0 { throw SocketError(.closed, "the client closed") }
        }
    }
}
