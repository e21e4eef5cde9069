import DNSClient
import DirectSMTPTesting
import Sockets

#if canImport(Glibc)
    import Glibc
#endif

/// `directsmtp-bench dns [cached|uncached|decode|all] [--tasks N] [--lookups N]
/// [--queries N] [--concurrency C] [--decodes N] [--json]`
///
/// - cached: `MXResolver.mx(for:)` answered from the cache, from `--tasks` concurrent tasks.
/// - uncached: `DNSQueryClient.query` against the in-process MockDNSServer on 127.0.0.1,
///   `--concurrency` queries in flight (each a fresh socket, random ID and port).
/// - decode: `DNSMessage(decoding:)` of a typical compressed MX response (2 MX + glue).
/// - serve: run the MockDNSServer on 127.0.0.1 for `--seconds` (default 30), answering
///   `A q.bench.example` and `MX bench.example`, so an outside tool (dnspython, dnsperf)
///   can be measured against the same server. Prints the port.
enum DNSBenchmark {
    static func run(_ arguments: [String]) async -> Int32 {
        var which = "all"
        var tasks = 100
        var lookups = 2_000_000
        var queries = 50_000
        var concurrency = 32
        var decodes = 1_000_000
        var json = false
        var serveSeconds = 30
        var index = 0
        func value() -> Int? {
            index += 1
            return index < arguments.count ? Int(arguments[index]) : nil
        }
        while index < arguments.count {
            switch arguments[index] {
            case "cached", "uncached", "decode", "all", "serve": which = arguments[index]
            case "--seconds": serveSeconds = value() ?? serveSeconds
            case "--tasks": tasks = value() ?? tasks
            case "--lookups": lookups = value() ?? lookups
            case "--queries": queries = value() ?? queries
            case "--concurrency": concurrency = value() ?? concurrency
            case "--decodes": decodes = value() ?? decodes
            case "--json": json = true
            default:
                print("unknown argument \(arguments[index])")
                return 64
            }
            index += 1
        }
        var results: [(String, String)] = []
        if which == "serve" { return await serve(seconds: min(max(serveSeconds, 1), 600)) }
        do {
            if which == "decode" || which == "all" {
                let nanoseconds = try decode(decodes)
                results.append(("decodeNanoseconds", format(nanoseconds)))
                if !json {
                    print(
                        "dns decode: \(format(nanoseconds)) ns per typical MX response (\(decodes) decodes)"
                    )
                }
            }
            if which == "cached" || which == "all" {
                let rate = try await cached(tasks: max(tasks, 1), lookups: max(lookups, tasks))
                results.append(("cachedLookupsPerSecond", format(rate)))
                if !json {
                    print(
                        "dns cached: \(format(rate)) mx lookups/s from \(tasks) tasks (\(lookups) lookups)"
                    )
                }
            }
            if which == "uncached" || which == "all" {
                let (rate, failures) = try await uncached(
                    queries: max(queries, 1), concurrency: max(concurrency, 1))
                results.append(("uncachedQueriesPerSecond", format(rate)))
                results.append(("uncachedFailures", "\(failures)"))
                if !json {
                    print(
                        "dns uncached: \(format(rate)) queries/s against MockDNSServer on loopback, \(concurrency) in flight (\(queries) queries, \(failures) failed)"
                    )
                }
            }
        } catch {
            print("dns benchmark failed: \(error)")
            return 70
        }
        if json {
            print(
                "{\"benchmark\":\"dns\","
                    + results.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
        }
        return 0
    }

    static func format(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }

    static func typicalResponse() throws -> [UInt8] {
        let domain = try DNSName("example.com")
        let mx1 = try DNSName("mx1.example.com")
        let mx2 = try DNSName("mx2.example.com")
        var header = DNSHeader(id: 0xBEEF, flags: 0x8180)
        header.isResponse = true
        let message = DNSMessage(
            header: header, questions: [DNSQuestion(name: domain, type: .mx)],
            answers: [
                .mx(domain, preference: 10, exchange: mx1, ttl: 3600),
                .mx(domain, preference: 20, exchange: mx2, ttl: 3600),
            ],
            additionals: [
                .address(mx1, IPAddress("192.0.2.1")!, ttl: 3600),
                .address(mx2, IPAddress("192.0.2.2")!, ttl: 3600),
                DNSRecord(
                    name: .root, type: .opt, recordClass: DNSClass(rawValue: 1232), ttl: 0,
                    data: .unknown([])),
            ])
        return message.encoded()
    }

    /// Nanoseconds per decode.
    static func decode(_ count: Int) throws -> Double {
        let bytes = try typicalResponse()
        var checksum = 0
        for _ in 0..<min(count, 10_000) {
            checksum &+= try DNSMessage(decoding: bytes).answers.count
        }
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<count { checksum &+= try DNSMessage(decoding: bytes).answers.count }
        let elapsed = start.duration(to: clock.now)
        precondition(checksum > 0)
        return seconds(elapsed) * 1e9 / Double(count)
    }

    /// Cached lookups per second.
    static func cached(tasks: Int, lookups: Int) async throws -> Double {
        let server = try MockDNSServer.start()
        defer { server.stop() }
        server.setMX("bench.example", [(10, "mx1.bench.example"), (20, "mx2.bench.example")])
        server.setA("mx1.bench.example", ["127.0.0.1"])
        server.setA("mx2.bench.example", ["127.0.0.2"])
        let resolver = MXResolver(configuration: server.resolverConfiguration())
        guard case .found = await resolver.mx(for: "bench.example") else {
            throw BenchmarkFailure("warm-up lookup failed")
        }
        let perTask = lookups / tasks
        let clock = ContinuousClock()
        let start = clock.now
        let found = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    var found = 0
                    for _ in 0..<perTask {
                        if case .found = await resolver.mx(for: "bench.example") { found += 1 }
                    }
                    return found
                }
            }
            return await group.reduce(0, +)
        }
        let elapsed = start.duration(to: clock.now)
        guard found == perTask * tasks, server.queryCount(for: "bench.example", type: .mx) == 1
        else {
            throw BenchmarkFailure("cached lookups were not all answered from the cache")
        }
        return Double(found) / seconds(elapsed)
    }

    /// Uncached queries per second, and how many failed.
    static func uncached(queries: Int, concurrency: Int) async throws -> (Double, Int) {
        let server = try MockDNSServer.start()
        defer { server.stop() }
        server.setA("q.bench.example", ["127.0.0.1"])
        let client = DNSQueryClient(
            configuration: server.resolverConfiguration(timeout: .seconds(2), attempts: 1))
        let name = try DNSName("q.bench.example")
        let perWorker = queries / concurrency
        let clock = ContinuousClock()
        let start = clock.now
        let (ok, failed) = await withTaskGroup(of: (Int, Int).self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    var ok = 0
                    var failed = 0
                    for _ in 0..<perWorker {
                        do {
                            let answer = try await client.query(
                                name, type: .a, deadline: .now + .seconds(5))
                            if answer.answers.count == 1 { ok += 1 } else { failed += 1 }
                        } catch {
                            failed += 1
                        }
                    }
                    return (ok, failed)
                }
            }
            return await group.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
        }
        let elapsed = start.duration(to: clock.now)
        guard server.queryCount(for: "q.bench.example", type: .a) >= ok else {
            throw BenchmarkFailure("the server saw fewer queries than answers")
        }
        return (Double(ok) / seconds(elapsed), failed)
    }

    /// Serves on loopback for a bounded time, then reports how many queries it answered.
    static func serve(seconds: Int) async -> Int32 {
        guard let server = try? MockDNSServer.start() else {
            print("could not start the mock server")
            return 70
        }
        defer { server.stop() }
        server.setA("q.bench.example", ["127.0.0.1"])
        server.setMailDomain(
            "bench.example",
            [(10, "mx1.bench.example", ["127.0.0.1"]), (20, "mx2.bench.example", ["127.0.0.2"])])
        print("serving on \(server.address) for \(seconds) s")
        fflush(nil)  // the port must reach a pipe at once
        try? await Task.sleep(for: .seconds(seconds))
        print("answered \(server.totalQueryCount) queries")
        return 0
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    struct BenchmarkFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
