import Sockets
import Testing

/// Readiness racing deadlines and cancellation, many times over: no byte may be lost, no
/// continuation resumed twice, no wait left hanging. Reads ask for more than arrives, so
/// the "short read means drained" shortcut is on the path, and run both on the global
/// executor and on the loop's own thread.
@Suite("Socket races", .serialized, .timeLimit(.minutes(2)))
struct RaceTests {
    static let pairs = 16
    static let rounds = 150

    /// Connected client/server pairs on loopback.
    func connectedPairs() async throws -> (TCPListener, [(TCPConnection, TCPConnection)]) {
        let listener = try TCPListener.bind(to: loopbackV4)
        var pairs: [(TCPConnection, TCPConnection)] = []
        for _ in 0..<Self.pairs {
            let client = try await TCPConnection.connect(to: listener.localAddress, deadline: after(2000))
            let server = try await listener.accept(deadline: after(2000))
            pairs.append((client, server))
        }
        return (listener, pairs)
    }

    @Test("reads with deadlines racing data arrival lose nothing", arguments: [false, true])
    func deadlineRaces(onLoop: Bool) async throws {
        let (listener, pairs) = try await connectedPairs()
        defer {
            listener.close()
            pairs.forEach { $0.0.close(); $0.1.close() }
        }
        let lost = await withTaskExecutorPreference(onLoop ? EventLoop.shared : nil) {
            await withTaskGroup(of: Int.self) { group in
                for (client, server) in pairs {
                    group.addTask {
                        var lost = 0
                        for round in 0..<Self.rounds {
                            let byte = UInt8(truncatingIfNeeded: round)
                            let writer = Task {
                                try? await Task.sleep(for: .microseconds(Int.random(in: 0...2000)))
                                try? await server.write([byte], deadline: after(2000))
                            }
                            var got: [UInt8] = []
                            do {
                                got = try await client.read(maxBytes: 4096, deadline: .now + .microseconds(Int.random(in: 50...2000)))
                            } catch {
                                // Timed out first: the byte must still arrive.
                                got = (try? await client.read(maxBytes: 4096, deadline: after(2000))) ?? []
                            }
                            await writer.value
                            if got != [byte] { lost += 1 }
                        }
                        return lost
                    }
                }
                return await group.reduce(0, +)
            }
        }
        #expect(lost == 0)
    }

    @Test("cancellation racing readiness loses nothing", arguments: [false, true])
    func cancelRaces(onLoop: Bool) async throws {
        let (listener, pairs) = try await connectedPairs()
        defer {
            listener.close()
            pairs.forEach { $0.0.close(); $0.1.close() }
        }
        let executor: (any TaskExecutor)? = onLoop ? EventLoop.shared : nil
        let (lost, unexpected) = await withTaskExecutorPreference(executor) {
            await withTaskGroup(of: (Int, Int).self) { group in
                for (client, server) in pairs {
                    group.addTask {
                        var lost = 0
                        var unexpected = 0
                        for round in 0..<Self.rounds {
                            let byte = UInt8(truncatingIfNeeded: round)
                            let reader = Task(executorPreference: executor) {
                                await socketError { () async throws(SocketError) in
                                    try await client.read(maxBytes: 4096, deadline: after(3000))
                                }.map { Result<[UInt8], SocketError>.failure($0) } ?? .success([])
                            }
                            // The value read is not observable through socketError; read the
                            // byte afterwards either way, so a consumed-and-dropped byte shows.
                            try? await Task.sleep(for: .microseconds(Int.random(in: 0...300)))
                            if Bool.random() {
                                reader.cancel()
                                try? await server.write([byte], deadline: after(2000))
                            } else {
                                try? await server.write([byte], deadline: after(2000))
                                reader.cancel()
                            }
                            switch await reader.value {
                            case .failure(let error) where error.code == .cancelled:
                                let got = (try? await client.read(maxBytes: 4096, deadline: after(2000))) ?? []
                                if got != [byte] { lost += 1 }
                            case .failure:
                                unexpected += 1
                            case .success:
                                break  // the read completed with the byte before the cancel
                            }
                        }
                        return (lost, unexpected)
                    }
                }
                var total = (0, 0)
                for await result in group {
                    total.0 += result.0
                    total.1 += result.1
                }
                return total
            }
        }
        #expect(lost == 0)
        #expect(unexpected == 0)
    }

    @Test("close racing reads in flight always ends the read, never by timeout")
    func closeRaces() async throws {
        let server = try EchoServer()
        let outcomes = await withTaskGroup(of: [SocketError.Code].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var codes: [SocketError.Code] = []
                    for _ in 0..<50 {
                        guard let connection = try? await TCPConnection.connect(to: server.address, deadline: after(3000)) else {
                            codes.append(.other)
                            continue
                        }
                        let reader = Task {
                            await socketError { () async throws(SocketError) in
                                while true {
                                    try await connection.write([1, 2, 3], deadline: after(3000))
                                    _ = try await connection.read(maxBytes: 4096, deadline: after(3000))
                                }
                            }
                        }
                        try? await Task.sleep(for: .microseconds(Int.random(in: 0...300)))
                        connection.close()
                        codes.append(await reader.value?.code ?? .other)
                    }
                    return codes
                }
            }
            return await group.reduce([], +)
        }
        #expect(outcomes.count == 400)
        #expect(outcomes.allSatisfy { $0 == .closed || $0 == .connectionReset }, "\(Set(outcomes))")
        await server.stop()
    }
}
