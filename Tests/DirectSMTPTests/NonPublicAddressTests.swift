import Testing

@testable import DirectSMTP

/// `refusesNonPublicAddresses`: an address from a public form must not make the server
/// connect inside its own network (an address literal, or MX hosts pointing there).
/// The fake dialer connects nowhere; its log shows which addresses would have been dialled.
@Suite("Coordinator: refusing non-public addresses", .timeLimit(.minutes(1)))
struct NonPublicAddressTests {
    @Test("Which MX hosts are dialled", arguments: [
        // Every host private: rejected (no-mail-server), nothing dialled.
        (["10.0.0.5", "169.254.169.254"], true, OutcomeReason.noMailServer, [String]()),
        // A private primary and a public backup: only the backup.
        (["192.168.1.10", "93.184.216.34"], true, .accepted, ["93.184.216.34"]),
        // Off (the default, for tests and local relays): a private host is dialled.
        (["10.0.0.5"], false, .accepted, ["10.0.0.5"]),
    ])
    func hosts(ips: [String], refuses: Bool, reason: OutcomeReason, dialled: [String]) async {
        var servers: [String: FakeServer] = [:]
        for ip in ips { servers[ip] = .healthy }
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: ips.enumerated().map { (10 * ($0.offset + 1), $0.element) }),
            servers: servers, refusesNonPublic: refuses)
        let outcome = await engine.send()
        #expect(outcome.reason == reason, "\(outcome)")
        #expect(engine.dialer.snapshot.opened == dialled)
        if reason == .noMailServer {
            #expect(outcome.detail?.contains("not a public address") == true, "\(outcome)")
        }
    }

    @Test("Only private hosts in an incomplete DNS answer: deferred (dns-unavailable), not rejected")
    func incompleteAnswer() async {
        let engine = FakeEngine(
            lookup: FakeLookup(hosts: [(10, "10.0.0.5")], complete: false),
            servers: ["10.0.0.5": .healthy], refusesNonPublic: true)
        let outcome = await engine.send()
        #expect(outcome.reason == .dnsUnavailable, "\(outcome)")
        #expect(engine.dialer.snapshot.opened.isEmpty)
    }

    @Test("An address literal inside the network is refused", arguments: [
        "user@[127.0.0.1]", "user@[10.1.2.3]", "user@[IPv6:::1]", "user@[IPv6:fe80::1]",
    ])
    func literal(address: String) async {
        let engine = FakeEngine(
            lookup: FakeLookup(.dnsUnavailable("unused")), servers: [:], refusesNonPublic: true)
        let outcome = await engine.send(address)
        #expect(outcome.reason == .noMailServer, "\(outcome)")
        #expect(engine.dialer.snapshot.opened.isEmpty)
    }
}
