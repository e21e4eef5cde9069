import Sockets

/// `directsmtp demo`: shows, on loopback only, what the library does. For now the socket
/// layer alone: an in-process echo server and a round trip through it.
enum DemoCommand {
    static func run(_ arguments: [String]) async -> Int32 {
        do {
            let listener = try TCPListener.bind(to: SocketAddress(ip: "127.0.0.1", port: 0))
            defer { listener.close() }
            let server = Task {
                let connection = try await listener.accept(deadline: .now + .seconds(2))
                defer { connection.close() }
                while true {
                    let bytes = try await connection.read(deadline: .now + .seconds(2))
                    if bytes.isEmpty { return }
                    try await connection.write(bytes, deadline: .now + .seconds(2))
                }
            }
            let clock = ContinuousClock()
            let start = clock.now
            let connection = try await TCPConnection.connect(
                to: listener.localAddress, deadline: .now + .seconds(2))
            defer { connection.close() }
            let greeting = Array("220 hello from the socket layer\r\n".utf8)
            try await connection.write(greeting, deadline: .now + .seconds(2))
            var echoed: [UInt8] = []
            while echoed.count < greeting.count {
                let count = try await connection.read(appendingTo: &echoed, deadline: .now + .seconds(2))
                if count == 0 { break }
            }
            connection.shutdownWrite()
            try await server.value
            let elapsed = start.duration(to: clock.now)
            let ok = echoed == greeting
            print("socket layer round trip via \(listener.localAddress): \(ok ? "ok" : "MISMATCH"), \(elapsed)")
            return ok ? 0 : ExitCode.software
        } catch {
            printError("demo failed: \(error)")
            return ExitCode.software
        }
    }
}
