// `timeouts`: how late a timed-out operation returns, with many deadlines pending at once.

import Sockets

enum TimeoutBenchmark {
    static func run(_ arguments: [String]) async -> Int32 {
        let options = BenchOptions(arguments)
        let operations = max(1, options.int("--operations", default: 1000))
        let json = options.has("--json")
        do {
            let listener = try TCPListener.bind(to: SocketAddress(ip: "127.0.0.1", port: 0), backlog: 4096)
            defer { listener.close() }
            // Idle connections whose server end never writes: every read must time out.
            var idle: [(TCPConnection, TCPConnection)] = []
            for _ in 0..<operations {
                let client = try await TCPConnection.connect(to: listener.localAddress, deadline: .now + .seconds(5))
                let server = try await listener.accept(deadline: .now + .seconds(5))
                idle.append((client, server))
            }
            defer { idle.forEach { $0.0.close(); $0.1.close() } }
            let lateness = await withTaskGroup(of: Duration?.self) { group in
                for (index, pair) in idle.enumerated() {
                    // Deadlines spread over 20...220 ms so the timer heap holds many at once.
                    let deadline = ContinuousClock.now + .milliseconds(20 + (index * 7919) % 200)
                    group.addTask {
                        do {
                            _ = try await pair.0.read(deadline: deadline)
                            return nil
                        } catch {
                            return (error as? SocketError)?.code == .timedOut ? deadline.duration(to: .now) : nil
                        }
                    }
                }
                var all: [Duration] = []
                for await value in group { if let value { all.append(value) } }
                return all
            }
            let summary = LatencySummary(lateness)
            report("timeouts", [
                "operations": operations,
                "timedOut": summary.count,
                "latenessP50Ms": rounded(summary.p50.milliseconds),
                "latenessP99Ms": rounded(summary.p99.milliseconds),
                "latenessMaxMs": rounded(summary.max.milliseconds),
            ], json: json)
            return summary.count == operations ? 0 : 1
        } catch {
            print("timeouts benchmark failed: \(error)")
            return 1
        }
    }
}
