import DNSClient
import DirectSMTPTesting
import SMTPClient
import Sockets
import Testing

@testable import DirectSMTP

/// ``AddressFamilyPreference``: the order the race dials an MX host's A and AAAA
/// addresses in, against a mock DNS server naming 127.0.0.1 and ::1 and a mock SMTP
/// server on each (one port for both, as for a real host).
@Suite("Address family preference", .serialized, .timeLimit(.minutes(1)))
struct AddressFamilyTests {
    /// Two mock SMTP servers on one port: ::1 and 127.0.0.1; DNS names both for
    /// `family.test`'s MX host (and only ::1 for `six.test`'s).
    struct World {
        let dns: MockDNSServer
        let v6: MockSMTPServer
        let v4: MockSMTPServer

        static func start() throws -> World {
            var lastError: (any Error)?
            for _ in 0..<20 {  // the v6 server's free port may be taken on 127.0.0.1
                let v6 = try MockSMTPServer.start(host: "::1")
                do {
                    let v4 = try MockSMTPServer.start(host: "127.0.0.1", port: v6.port)
                    let dns = try MockDNSServer.start()
                    dns.setMX("family.test", [(10, "mx.family.test")])
                    dns.setA("mx.family.test", ["127.0.0.1"])
                    dns.setAAAA("mx.family.test", ["::1"])
                    dns.setMX("six.test", [(10, "mx.six.test")])
                    dns.setAAAA("mx.six.test", ["::1"])
                    return World(dns: dns, v6: v6, v4: v4)
                } catch {
                    lastError = error
                    v6.stop()
                }
            }
            throw lastError!
        }

        func coordinator(_ preference: AddressFamilyPreference?) throws -> VerificationCoordinator {
            var configuration = OneHostWorld.configuration(dns: dns.address, port: v6.port)
            if let preference { configuration.addressFamilyPreference = preference }
            return try VerificationCoordinator(configuration: configuration)
        }

        func stop() {
            dns.stop()
            v6.stop()
            v4.stop()
        }
    }

    @Test(
        "The first address dialled follows the preference (interleaved: IPv6 first, RFC 8305)",
        arguments: [
            (nil as AddressFamilyPreference?, "::1"), (.interleaved, "::1"),
            (.ipv4First, "127.0.0.1"), (.ipv4Only, "127.0.0.1"),
        ])
    func firstAddress(preference: AddressFamilyPreference?, ip: String) async throws {
        let world = try World.start()
        defer { world.stop() }
        let coordinator = try world.coordinator(preference)
        let outcome = await coordinator.probe(try EmailAddress("jane@family.test"))
        #expect(outcome.reason == .accepted, "\(outcome.json)")
        #expect(outcome.mx?.ip == ip)
        let winner = ip == "::1" ? world.v6 : world.v4
        let other = ip == "::1" ? world.v4 : world.v6
        #expect(winner.transactions.count == 1 && other.transactions.isEmpty)
    }

    @Test("IPv4 first: IPv6 still serves when IPv4 does not answer")
    func ipv4FirstFallsBack() async throws {
        let world = try World.start()
        defer { world.stop() }
        world.v4.stop()  // refused at once: the race moves on
        let outcome = await (try world.coordinator(.ipv4First)).probe(try EmailAddress("jane@family.test"))
        #expect(outcome.reason == .accepted && outcome.mx?.ip == "::1", "\(outcome.json)")
    }

    @Test("IPv4 only, and an MX host with only IPv6: deferred, the choice is ours")
    func ipv4OnlyWithoutIPv4() async throws {
        let world = try World.start()
        defer { world.stop() }
        let outcome = await (try world.coordinator(.ipv4Only)).probe(try EmailAddress("jane@six.test"))
        #expect(outcome.reason == .noReachableHost, "\(outcome.json)")
        #expect(outcome.detail?.contains("IPv4 only") == true)
        #expect(world.v6.connectionCount == 0)
        let interleaved = await (try world.coordinator(nil)).probe(try EmailAddress("jane@six.test"))
        #expect(interleaved.reason == .accepted)
    }

    @Test("IPv4 first puts every host's IPv4 addresses before any IPv6 one, MX order kept")
    func orderAcrossHosts() throws {
        let hosts = [
            MailHost(name: "mx1.example", preference: 10, addresses: [IPAddress("2001:db8::1")!, IPAddress("192.0.2.1")!]),
            MailHost(name: "mx2.example", preference: 20, addresses: [IPAddress("2001:db8::2")!, IPAddress("192.0.2.2")!]),
        ]
        func order(_ preference: AddressFamilyPreference) -> [String] {
            var settings = EngineSettings()
            settings.addressFamilyPreference = preference
            settings.refusesNonPublicAddresses = false  // documentation addresses
            typealias Engine = DeliveryEngine<FakeLookup, FakeDialer>
            guard case .ready(let list) = Engine.candidateList(hosts, complete: true, settings: settings)
            else { return [] }
            return Engine.familyOrdered(list, settings).map(\.ip)
        }
        #expect(order(.interleaved) == ["2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2"])
        #expect(order(.ipv4First) == ["192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2"])
        #expect(order(.ipv4Only) == ["192.0.2.1", "192.0.2.2"])
        #expect(AddressFamilyPreference.allCases.map(\.rawValue) == ["interleaved", "ipv4-first", "ipv4-only"])
    }

    @Test("IPv4 first holds when DNS shuffles hosts of equal preference")
    func orderAfterAShuffle() async {
        func host(_ name: String, _ v6: String, _ v4: String) -> MailHost {
            MailHost(name: name, preference: 10, addresses: [IPAddress(v6)!, IPAddress(v4)!])
        }
        let one = host("mx1.example", "::1", "127.0.0.11")
        let two = host("mx2.example", "::1", "127.0.0.12")
        let lookup = FakeLookup(.found([one, two], complete: true))
        var settings = EngineSettings()
        settings.refusesNonPublicAddresses = false
        settings.healthPenalty = .zero
        settings.addressFamilyPreference = .ipv4First
        let engine = DeliveryEngine(lookup: lookup, dialer: FakeDialer([:]), settings: settings)
        func order() async -> [String] {
            guard case (.ready(let list), _) = await engine.lookedUpCandidates(for: "example.com", deadline: .now + .seconds(1))
            else { return [] }
            return list.map(\.ip)
        }
        #expect(await order() == ["127.0.0.11", "127.0.0.12", "::1", "::1"])
        lookup.answer = .found([two, one], complete: true)  // the same hosts, shuffled
        #expect(await order() == ["127.0.0.12", "127.0.0.11", "::1", "::1"])
    }
}
