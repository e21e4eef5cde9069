import Sockets

/// A loopback host that misbehaves at the TCP level, for racing tests: listening on the
/// same port as the mock SMTP server, on another 127.0.0.x address (every MX host of a
/// domain is dialled on one port).
final class LoopbackHost: Sendable {
    enum Kind: Sendable {
        /// connect() hangs: a backlog-0 listener whose queue a filler connection holds.
        case blackholed
        /// Accepts, then never says a word.
        case silent
        /// Accepts and sends this greeting line (e.g. `554 5.7.1 go away`).
        case greeting(String)
    }

    let address: SocketAddress
    private let listener: TCPListener
    private let held = Lock<[TCPConnection]>([])
    private let acceptor = Lock<Task<Void, Never>?>(nil)

    private init(address: SocketAddress, listener: TCPListener) {
        self.address = address
        self.listener = listener
    }

    static func start(_ kind: Kind, ip: String, port: Int) async throws -> LoopbackHost {
        let address = try SocketAddress(ip: ip, port: port)
        switch kind {
        case .blackholed:
            let listener = try TCPListener.bind(to: address, backlog: 0)
            let host = LoopbackHost(address: address, listener: listener)
            // One completed handshake fills a backlog of 0; later SYNs are dropped.
            if let filler = try? await TCPConnection.connect(
                to: address, deadline: .now + .milliseconds(300))
            {
                host.held.withLock { $0.append(filler) }
            }
            return host
        case .silent, .greeting:
            let listener = try TCPListener.bind(to: address)
            let host = LoopbackHost(address: address, listener: listener)
            let greeting: [UInt8]? =
                if case .greeting(let line) = kind { Array((line + "\r\n").utf8) } else { nil }
            let task = Task { [host] in
                while let connection = try? await listener.accept() {
                    host.held.withLock { $0.append(connection) }
                    if let greeting {
                        try? await connection.write(greeting, deadline: .now + .seconds(1))
                    }
                }
            }
            host.acceptor.withLock { $0 = task }
            return host
        }
    }

    /// Connections accepted (silent/greeting) so far, fillers included.
    var heldCount: Int { held.withLock { $0.count } }

    func stop() {
        acceptor.withLock { $0?.cancel() }
        listener.close()
        for connection in held.withLock({ $0 }) { connection.close() }
    }
}
