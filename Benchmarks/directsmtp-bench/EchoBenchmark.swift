// `echo`: TCP echo round trips through the socket layer, client and server in one process
// on loopback. `hold`: memory per connection with thousands held open at once.

import Sockets

/// An in-process echo server for the benchmarks: one task per connection.
final class BenchEchoServer: Sendable {
    let listener: TCPListener
    private let acceptor: Task<Void, Never>

    init(executor: (any TaskExecutor)? = nil) throws {
        let listener = try TCPListener.bind(to: SocketAddress(ip: "127.0.0.1", port: 0), backlog: 4096)
        self.listener = listener
        acceptor = Task(executorPreference: executor) {
            await withDiscardingTaskGroup { group in
                while let connection = try? await listener.acceptWaitingOutFDShortage() {
                    group.addTask {
                        defer { connection.close() }
                        var buffer: [UInt8] = []
                        while true {
                            buffer.removeAll(keepingCapacity: true)
                            guard let count = try? await connection.read(appendingTo: &buffer, maxBytes: 4096),
                                count > 0,
                                (try? await connection.write(buffer)) != nil
                            else { return }
                        }
                    }
                }
            }
        }
    }

    var address: SocketAddress { listener.localAddress }

    func stop() {
        listener.close()
        acceptor.cancel()
    }
}

enum EchoBenchmark {
    static func run(_ arguments: [String]) async -> Int32 {
        let options = BenchOptions(arguments)
        let connections = max(1, options.int("--connections", default: 100))
        let requests = max(connections, options.int("--requests", default: 200_000))
        let size = max(1, options.int("--size", default: 64))
        let json = options.has("--json")
        // `loop`: every task runs on the event loop thread (EventLoop as TaskExecutor);
        // `global`: tasks on Swift's global executor, woken by the loop thread.
        let executorName = options.string("--executor") ?? "loop"
        let executor: (any TaskExecutor)? = executorName == "loop" ? EventLoop.shared : nil
        do {
            try await withTaskExecutorPreference(executor) {
                try await measure(connections: connections, requests: requests, size: size, executor: executorName, json: json)
            }
            return 0
        } catch {
            print("echo benchmark failed: \(error)")
            return 1
        }
    }

    private static func measure(connections: Int, requests: Int, size: Int, executor: String, json: Bool) async throws {
        do {
            let server = try BenchEchoServer(executor: executor == "loop" ? EventLoop.shared : nil)
            defer { server.stop() }
            let perConnection = requests / connections
            let message = [UInt8](repeating: 0x61, count: size)
            let clock = ContinuousClock()
            let start = clock.now
            // Every wait is bounded: a server that stops answering ends the run with an
            // error instead of hanging it (one deadline for all, no clock read per call).
            let deadline = start + .seconds(600)
            let samples = try await withThrowingTaskGroup(of: [Duration].self) { group in
                for _ in 0..<connections {
                    group.addTask {
                        let connection = try await TCPConnection.connect(to: server.address, deadline: .now + .seconds(10))
                        defer { connection.close() }
                        var latencies: [Duration] = []
                        latencies.reserveCapacity(perConnection)
                        var buffer: [UInt8] = []
                        buffer.reserveCapacity(size)
                        for _ in 0..<perConnection {
                            let sent = clock.now
                            try await connection.write(message, deadline: deadline)
                            buffer.removeAll(keepingCapacity: true)
                            while buffer.count < size {
                                // Ask for more than one echo, as a protocol client reading replies does.
                                if try await connection.read(
                                    appendingTo: &buffer, maxBytes: 4096, deadline: deadline) == 0
                                {
                                    throw SocketError(.connectionReset, "the echo server closed early")
                                }
                            }
                            latencies.append(sent.duration(to: clock.now))
                        }
                        return latencies
                    }
                }
                var all: [Duration] = []
                for try await latencies in group { all += latencies }
                return all
            }
            let elapsed = start.duration(to: clock.now)
            let summary = LatencySummary(samples)
            report("echo", [
                "executor": executor,
                "connections": connections,
                "roundTrips": summary.count,
                "messageBytes": size,
                "seconds": rounded(elapsed.seconds),
                "roundTripsPerSecond": rounded(Double(summary.count) / elapsed.seconds),
                "p50Ms": rounded(summary.p50.milliseconds),
                "p99Ms": rounded(summary.p99.milliseconds),
                "maxMs": rounded(summary.max.milliseconds),
                "peakRSSKiB": memoryKiB("VmHWM"),
            ], json: json)
        }
    }
}

enum HoldBenchmark {
    static func run(_ arguments: [String]) async -> Int32 {
        let options = BenchOptions(arguments)
        let count = max(1, options.int("--connections", default: 5000))
        let json = options.has("--json")
        do {
            let server = try BenchEchoServer()
            defer { server.stop() }
            // Warm up the runtime and the allocator so the baseline is fair.
            let warm = try await TCPConnection.connect(to: server.address, deadline: .now + .seconds(5))
            try await warm.write([1], deadline: .now + .seconds(5))
            _ = try await warm.read(deadline: .now + .seconds(5))
            warm.close()
            let baseline = memoryKiB("VmRSS")
            var held: [TCPConnection] = []
            held.reserveCapacity(count)
            // Open in batches so the accept backlog never overflows.
            let batch = 500
            var opened = 0
            while opened < count {
                let next = min(batch, count - opened)
                let connections = try await withThrowingTaskGroup(of: TCPConnection.self) { group in
                    for _ in 0..<next {
                        group.addTask {
                            let connection = try await TCPConnection.connect(to: server.address, deadline: .now + .seconds(10))
                            try await connection.write([7], deadline: .now + .seconds(10))
                            let echoed = try await connection.read(deadline: .now + .seconds(10))
                            guard echoed == [7] else { throw SocketError(.other, "bad echo") }
                            return connection
                        }
                    }
                    var batchConnections: [TCPConnection] = []
                    for try await connection in group { batchConnections.append(connection) }
                    return batchConnections
                }
                held += connections
                opened += next
            }
            let loaded = memoryKiB("VmRSS")
            let perConnection = Double(loaded - baseline) / Double(count)
            report("hold", [
                "connections": count,
                "socketsInProcess": 2 * count,
                "baselineRSSKiB": baseline,
                "loadedRSSKiB": loaded,
                "kibPerConnection": rounded(perConnection),
                "peakRSSKiB": memoryKiB("VmHWM"),
            ], json: json)
            held.forEach { $0.close() }
            return 0
        } catch {
            print("hold benchmark failed: \(error)")
            return 1
        }
    }
}
