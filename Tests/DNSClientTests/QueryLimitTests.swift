import DNSClient
import DirectSMTPTesting
import Sockets
import Testing

extension DNSClientTests {
    /// Queries (sockets) in flight at once are bounded per resolver, whatever the burst;
    /// a query that gets no slot in time is a timeout: "cannot tell", never "no".
    @Suite
    struct QueryLimitTests {
        @Test func theDefaultLimitIs256() throws {
            let configuration = ResolverConfiguration(
                nameservers: [try SocketAddress(ip: "127.0.0.1", port: 53)])
            #expect(configuration.maximumConcurrentQueries == 256)
            #expect(ResolverConfiguration.parse(resolvConf: "").maximumConcurrentQueries == 256)
            var zero = configuration
            zero.maximumConcurrentQueries = 0
            #expect(zero.effectiveMaximumConcurrentQueries == 1)
        }

        @Test func aThousandSilentDomainsNeverExceedTheLimit() async throws {
            try await withMockDNS { server in
                let limit = 64
                let domains = (0..<1000).map { "d\($0).silent.example" }
                for domain in domains { server.setBehavior(.silence, for: domain) }
                var configuration = server.resolverConfiguration(
                    timeout: .milliseconds(300), attempts: 2)
                configuration.maximumConcurrentQueries = limit
                let resolver = MXResolver(configuration: configuration)
                let budget = Duration.seconds(2)
                let clock = ContinuousClock()
                // An independent look: the sockets actually open, sampled all along.
                let sampler = Task {
                    var most = 0
                    while !Task.isCancelled {
                        most = max(most, resolver.client.openSockets)
                        try? await Task.sleep(for: .milliseconds(1))
                    }
                    return most
                }
                let results = await withTaskGroup(of: (MXLookup, Duration).self) { group in
                    for domain in domains {
                        group.addTask {
                            let start = clock.now
                            let lookup = await resolver.mx(for: domain, deadline: start + budget)
                            return (lookup, start.duration(to: clock.now))
                        }
                    }
                    var results: [(MXLookup, Duration)] = []
                    for await result in group { results.append(result) }
                    return results
                }
                sampler.cancel()
                let mostSockets = await sampler.value
                #expect(mostSockets <= limit)
                #expect(mostSockets > 0)
                #expect(results.count == 1000)
                let notUnavailable = results.filter { !$0.0.isUnavailable }
                #expect(notUnavailable.isEmpty, "\(notUnavailable.prefix(3))")
                // Each by its deadline (2 attempts x 300 ms, well within it), give or take
                // a scheduling hiccup (wider under a sanitizer).
                let slowest = results.map(\.1).max() ?? .zero
                #expect(slowest < budget + TimingScale.scaled(.milliseconds(300)), "slowest \(slowest)")
                #expect(resolver.client.peakQueriesInFlight <= limit)
                // The burst did fill every slot, so the bound was what held it.
                #expect(resolver.client.peakQueriesInFlight == limit)
                // Only queries that got a slot reached the server.
                #expect(server.totalQueryCount <= 2 * 1000)
                #expect(server.totalQueryCount >= limit)
                // Every permit and socket came back.
                #expect(await eventually(within: .milliseconds(200)) { resolver.isIdle })
            }
        }

        @Test func queriesWaitingForASlotStillGetTheirAnswer() async throws {
            try await withMockDNS { server in
                let domains = (0..<20).map { "d\($0).busy.example" }
                for domain in domains {
                    server.setMailDomain(domain, [(10, "mx.\(domain)", ["127.0.0.1", "::1"])])
                    server.setBehavior(.delayed(.milliseconds(20), .answer), for: domain)
                }
                var configuration = server.resolverConfiguration(timeout: .seconds(5))
                configuration.maximumConcurrentQueries = 2
                let resolver = MXResolver(configuration: configuration)
                let found = await withTaskGroup(of: Bool.self) { group in
                    for domain in domains {
                        group.addTask {
                            await resolver.mx(for: domain, deadline: .now + .seconds(10)).answer
                                != nil
                        }
                    }
                    return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
                }
                #expect(found == domains.count)
                #expect(resolver.client.peakQueriesInFlight == 2)
                #expect(await eventually(within: .milliseconds(200)) { resolver.isIdle })
            }
        }

        @Test func noSlotBeforeTheDeadlineIsUnavailableNotNoMailServer() async throws {
            try await withMockDNS { server in
                server.setBehavior(.silence, for: "hog.example")
                server.setNXDOMAIN("starved.example")
                var configuration = server.resolverConfiguration(timeout: .seconds(2))
                configuration.maximumConcurrentQueries = 1
                let resolver = MXResolver(configuration: configuration)
                let hog = Task { await resolver.mx(for: "hog.example") }
                #expect(
                    await eventually(within: .seconds(1)) { resolver.client.queriesInFlight == 1 })
                // The server would say NXDOMAIN, but the one slot is taken until after
                // this caller's deadline: it cannot tell.
                let clock = ContinuousClock()
                let start = clock.now
                let starved = await resolver.mx(
                    for: "starved.example", deadline: .now + .milliseconds(150))
                #expect(starved.isUnavailable, "\(starved)")
                #expect(start.duration(to: clock.now) < .milliseconds(600))
                #expect(server.queryCount(for: "starved.example") == 0)
                hog.cancel()
                #expect(await hog.value.isUnavailable)
                #expect(await eventually(within: .milliseconds(200)) { resolver.isIdle })
                // The slot is free again: the same question now gets its real answer.
                #expect(
                    await resolver.mx(for: "starved.example", deadline: .now + .seconds(2))
                        == .noMailServer(.nonExistentDomain))
            }
        }

        @Test func aQueryClientAloneHonoursTheLimitToo() async throws {
            try await withMockDNS { server in
                server.setBehavior(.silence, for: "q.example")
                var configuration = server.resolverConfiguration(timeout: .milliseconds(200))
                configuration.maximumConcurrentQueries = 3
                let client = DNSQueryClient(configuration: configuration)
                let name = try DNSName("q.example")
                let codes = await withTaskGroup(of: DNSQueryError.Code?.self) { group in
                    for _ in 0..<10 {
                        group.addTask {
                            do {
                                _ = try await client.query(
                                    name, type: .a, deadline: .now + .seconds(1))
                                return nil
                            } catch {
                                return (error as? DNSQueryError)?.code
                            }
                        }
                    }
                    var codes: [DNSQueryError.Code?] = []
                    for await code in group { codes.append(code) }
                    return codes
                }
                #expect(codes.allSatisfy { $0 == .timedOut }, "\(codes)")
                #expect(client.peakQueriesInFlight == 3)
                // Those that waited had no time left to send: 3, or barely more.
                #expect(server.queryCount(for: "q.example") >= 3)
                #expect(client.queriesInFlight == 0 && client.queriesWaiting == 0)
                #expect(client.openSockets == 0)
            }
        }
    }
}
