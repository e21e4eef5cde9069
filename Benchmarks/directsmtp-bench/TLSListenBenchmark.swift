import DirectSMTPTesting
import Sockets

#if canImport(Glibc)
    import Glibc
#endif

/// `smtp tls-listen`: a plain TLS listener (no SMTP) with the mock's certificate and TLS
/// settings, for `openssl s_time -new` (or `-reuse`) to measure the handshake rate the
/// mock's server side reaches, and its CPU per handshake, apart from SMTP. Loopback only;
/// ends after `--seconds` (at most 60).
enum TLSListenBenchmark {
    /// What the connection tasks count (a class: a `Lock` is not copyable into them).
    private final class Counts: Sendable {
        let value = Lock((handshakes: 0, resumed: 0, failed: 0))
    }

    static func run(_ options: BenchOptions) async -> Int32 {
        #if OpenSSL
            let seconds = max(1, min(options.int("--seconds", default: 10), 60))
            let json = options.has("--json")
            do {
                let context = try MockTLSCertificate.serverContext(
                    sessionTickets: options.int("--tickets", default: 1))
                let listener = try TCPListener.bind(
                    to: try SocketAddress(ip: "127.0.0.1", port: options.int("--port", default: 0)))
                print("smtp tls-listen: 127.0.0.1:\(listener.localAddress.port) for \(seconds) s")
                fflush(nil)
                let counts = Counts()
                let cpuBefore = processCPUSeconds()
                let end = ContinuousClock.now + .seconds(seconds)
                await withTaskGroup(of: Void.self) { group in
                    while let connection = try? await listener.accept(deadline: end) {
                        group.addTask { [connection] in
                            do {
                                let tls = try await TLSStream.accept(
                                    over: connection, context: context, deadline: .now + .seconds(5))
                                counts.value.withLock {
                                    $0.handshakes += 1
                                    if tls.resumed { $0.resumed += 1 }
                                }
                                // Until the client closes (s_time sends nothing without -www).
                                var buffer: [UInt8] = []
                                _ = try? await tls.read(
                                    appendingTo: &buffer, maxBytes: 1024, deadline: .now + .seconds(2))
                                tls.close()
                            } catch {
                                counts.value.withLock { $0.failed += 1 }
                                connection.close()
                            }
                        }
                    }
                }
                listener.close()
                let cpuAfter = processCPUSeconds()
                let done = counts.value.withLock { $0 }
                let cpu = (cpuAfter.user - cpuBefore.user) + (cpuAfter.system - cpuBefore.system)
                report(
                    "smtp tls-listen",
                    [
                        "seconds": seconds,
                        "handshakes": done.handshakes,
                        "resumed": done.resumed,
                        "failed": done.failed,
                        "handshakesPerSecond": rounded(Double(done.handshakes) / Double(seconds)),
                        "serverCPUSeconds": rounded(cpu),
                        "serverCPUMsPerHandshake": rounded(
                            done.handshakes > 0 ? cpu * 1000 / Double(done.handshakes) : 0),
                    ], json: json)
                return 0
            } catch {
                print("smtp tls-listen failed: \(error)")
                return 1
            }
        #else
            print("smtp tls-listen: this build has no TLS (built without the OpenSSL trait)")
            return 64
        #endif
    }
}
