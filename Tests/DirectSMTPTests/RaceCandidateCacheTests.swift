import DNSClient
import Sockets
import Testing

@testable import DirectSMTP

/// The race candidates kept per destination: reused only while DNS names the same hosts.
@Suite("Race candidate cache", .timeLimit(.minutes(1)))
struct RaceCandidateCacheTests {
    @Test("A changed DNS answer is raced, not the candidates made for the old one")
    func changedAnswer() async {
        let lookup = FakeLookup(hosts: [(10, "127.0.0.11")])
        let engine = FakeEngine(
            lookup: lookup, servers: ["127.0.0.11": .healthy, "127.0.0.12": .healthy])
        #expect(await engine.send().mx?.ip == "127.0.0.11")
        // The same host name at a new address (its TTL ran out), then a new preference.
        lookup.answer = FakeLookup.found([(10, "127.0.0.12")])
        #expect(await engine.send().mx?.ip == "127.0.0.12")
        lookup.answer = FakeLookup.found([(20, "127.0.0.12")])
        #expect(await engine.send().mx?.preference == 20)
        #expect(engine.dialer.snapshot.opened == ["127.0.0.11", "127.0.0.12", "127.0.0.12"])
        #expect(engine.candidateCache.count == 1)
    }

    @Test("The same answer reuses the candidates; an address literal is parsed once")
    func sameAnswer() async {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
            servers: ["127.0.0.11": .healthy, "127.0.0.9": .healthy])
        for _ in 0..<3 {
            #expect(await engine.send().reason == .accepted)
            let literal = await engine.send("user@[127.0.0.9]")
            #expect(literal.reason == .accepted)
            #expect(
                literal.mx == MailExchangerUsed(host: "[127.0.0.9]", ip: "127.0.0.9", preference: 0)
            )
        }
        #expect(engine.candidateCache.count == 2)
        let hosts = [
            MailHost(
                name: "mx1.example.com", preference: 10, addresses: [IPAddress("127.0.0.11")!])
        ]
        guard
            case .ready(let first) = engine.candidateCache.list(
                for: "example.com", hosts: hosts, complete: true),
            case .ready(let again) = engine.candidateCache.list(
                for: "example.com", hosts: hosts, complete: true)
        else {
            Issue.record("example.com's candidates are not cached")
            return
        }
        #expect(first.count == 1 && first[0] === again[0])
    }

    @Test("An entry is used only for the hosts and completeness it was made from")
    func entryMatching() {
        let cache = RaceCandidateCache(capacity: 2)
        let one = [
            MailHost(name: "mx.a.test", preference: 0, addresses: [IPAddress("192.0.2.1")!])
        ]
        let other = [
            MailHost(name: "mx.a.test", preference: 0, addresses: [IPAddress("192.0.2.2")!])
        ]
        cache.store(
            .none(.noMailServer, detail: "all refused"), for: "a.test", hosts: one, complete: true)
        #expect(cache.list(for: "a.test", hosts: one, complete: true) != nil)
        // A partial answer with the same hosts decides otherwise (dns-unavailable).
        #expect(cache.list(for: "a.test", hosts: one, complete: false) == nil)
        #expect(cache.list(for: "a.test", hosts: other, complete: true) == nil)
        #expect(cache.list(for: "a.test", hosts: nil, complete: true) == nil)
        #expect(cache.list(for: "b.test", hosts: one, complete: true) == nil)
    }

    @Test("Bounded: a new domain beyond the capacity empties it; a known one does not")
    func bounded() {
        let cache = RaceCandidateCache(capacity: 3)
        for index in 0..<10 {
            cache.store(
                .none(.noReachableHost, detail: nil), for: "d\(index).test", hosts: [],
                complete: true)
            #expect(cache.count <= 3)
        }
        #expect(cache.list(for: "d9.test", hosts: [], complete: true) != nil)
        cache.store(.none(.noMailServer, detail: nil), for: "d9.test", hosts: [], complete: true)
        #expect(cache.list(for: "d9.test", hosts: [], complete: true) != nil)
    }

    @Test("Hosts of equal preference reshuffled: the same candidates, in the new order")
    func reshuffled() async {
        let lookup = FakeLookup(hosts: [(10, "127.0.0.11"), (10, "127.0.0.12")])
        let engine = FakeEngine(
            lookup: lookup, servers: ["127.0.0.11": .healthy, "127.0.0.12": .healthy])
        #expect(await engine.send().mx?.ip == "127.0.0.11")
        guard case .found(let hosts, _) = lookup.answer else { return }
        let swapped = Array(hosts.reversed())
        guard
            case .ready(let first) = engine.candidateCache.list(
                for: "example.com", hosts: hosts, complete: true),
            case .ready(let reordered) = engine.candidateCache.list(
                for: "example.com", hosts: swapped, complete: true)
        else {
            Issue.record("the reshuffled hosts found no candidates")
            return
        }
        #expect(reordered.map(\.ip) == ["127.0.0.12", "127.0.0.11"])
        #expect(reordered[0] === first[1] && reordered[1] === first[0])
        // The race follows the new order: the other host is tried first now.
        lookup.answer = .found(swapped)
        #expect(await engine.send().mx?.ip == "127.0.0.12")
        #expect(engine.dialer.snapshot.opened == ["127.0.0.11", "127.0.0.12"])
    }

    @Test("A reordering has the same hosts, none twice")
    func reordering() {
        func host(_ name: String, _ ip: String = "192.0.2.1") -> MailHost {
            MailHost(name: name, preference: 10, addresses: [IPAddress(ip)!])
        }
        let (a, b, c) = (host("a"), host("b"), host("c"))
        #expect(RaceCandidateCache.isReordering([b, a], of: [a, b]))
        #expect(RaceCandidateCache.isReordering([a, b], of: [a, b]))
        #expect(!RaceCandidateCache.isReordering([a, a], of: [a, b]))
        #expect(!RaceCandidateCache.isReordering([a, b], of: [a, a]))
        #expect(!RaceCandidateCache.isReordering([a, c], of: [a, b]))
        #expect(!RaceCandidateCache.isReordering([a], of: [a, b]))
        #expect(!RaceCandidateCache.isReordering([host("a", "192.0.2.9"), b], of: [a, b]))
    }
}
