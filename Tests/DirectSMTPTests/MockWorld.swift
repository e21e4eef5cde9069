import DNSClient
import DirectSMTP
import DirectSMTPTesting
import SMTPClient
import Sockets

/// Mock DNS and SMTP servers on loopback, set up with one domain per scenario, and the
/// misbehaving hosts the racing scenarios need. Every MX host listens on one port (the
/// mock SMTP server's), on its own 127.0.0.x address.
final class MockWorld: Sendable {
    let dns: MockDNSServer
    let smtp: MockSMTPServer
    let hosts: [LoopbackHost]

    var port: Int { smtp.port }

    /// Scenario domains:
    /// - `ok.test`: one MX, the mock server. Recipients: `user` accepted, `nobody` 550 5.1.1,
    ///   `blocked` 550 5.7.1, `grey` 451 4.7.1, `slow` 250 after 2 s.
    /// - `nx.test` NXDOMAIN, `nullmx.test` null MX, `silent.test` DNS never answers,
    ///   `servfail.test` SERVFAIL.
    /// - `down.test`: two MX hosts where nothing listens (refused).
    /// - `blackhole.test`: primary blackholed (127.0.0.2), backup the mock.
    /// - `slowgreeting.test`: primary accepts but never greets (127.0.0.3), backup the mock.
    /// - `refuses.test`: the only MX greets with 554 5.7.1 (127.0.0.4).
    static func start() async throws -> MockWorld {
        var script = MockSMTPScript()
        script.recipients["nobody@ok.test"] = .reply(550, "5.1.1 no such user")
        script.recipients["blocked@ok.test"] = .reply(550, "5.7.1 rejected by policy")
        script.recipients["grey@ok.test"] = .reply(451, "4.7.1 greylisted, try again later")
        script.recipients["slow@ok.test"] = MockSMTPResponse.reply(250, "2.1.5 recipient OK")
            .delayed(by: .seconds(2))
        script.recordsReads = false
        // Served on the event loop's thread, not the cooperative pool that CPU-heavy tests
        // of a parallel `swift test` can hold for a second (budget-timed tests then failed).
        let smtp = try MockSMTPServer.start(script, executor: EventLoop.shared)
        let dns = try MockDNSServer.start()
        let port = smtp.port
        let hosts = [
            try await LoopbackHost.start(.blackholed, ip: "127.0.0.2", port: port),
            try await LoopbackHost.start(.silent, ip: "127.0.0.3", port: port),
            try await LoopbackHost.start(
                .greeting("554 5.7.1 you are not welcome here"), ip: "127.0.0.4", port: port),
        ]
        dns.setMX("ok.test", [(10, "mx.ok.test")])
        dns.setA("mx.ok.test", ["127.0.0.1"])
        dns.setNXDOMAIN("nx.test")
        dns.setNullMX("nullmx.test")
        dns.setBehavior(.silence, for: "silent.test")
        dns.setBehavior(.servfail, for: "servfail.test")
        dns.setMX("down.test", [(10, "mx1.down.test"), (20, "mx2.down.test")])
        dns.setA("mx1.down.test", ["127.0.0.5"])
        dns.setA("mx2.down.test", ["127.0.0.6"])
        dns.setMX("blackhole.test", [(10, "mx1.blackhole.test"), (20, "mx2.blackhole.test")])
        dns.setA("mx1.blackhole.test", ["127.0.0.2"])
        dns.setA("mx2.blackhole.test", ["127.0.0.1"])
        dns.setMX(
            "slowgreeting.test", [(10, "mx1.slowgreeting.test"), (20, "mx2.slowgreeting.test")])
        dns.setA("mx1.slowgreeting.test", ["127.0.0.3"])
        dns.setA("mx2.slowgreeting.test", ["127.0.0.1"])
        dns.setMX("refuses.test", [(10, "mx.refuses.test")])
        dns.setA("mx.refuses.test", ["127.0.0.4"])
        return MockWorld(dns: dns, smtp: smtp, hosts: hosts)
    }

    private init(dns: MockDNSServer, smtp: MockSMTPServer, hosts: [LoopbackHost]) {
        self.dns = dns
        self.smtp = smtp
        self.hosts = hosts
    }

    /// A configuration aimed at this world. Step timeouts are 8 s, so a test finishing
    /// sooner shows the race (or the budget) at work, not a timeout.
    func configuration(stagger: Duration = .milliseconds(250), budget: Duration = .seconds(3))
        -> VerificationCoordinator.Configuration
    {
        var configuration = VerificationCoordinator.Configuration(
            heloName: "client.test", nameservers: [dns.address], smtpPort: port,
            staggerDelay: stagger, timeouts: .uniform(.seconds(8)), defaultBudget: budget)
        configuration.dnsTimeout = .seconds(1)
        configuration.dnsAttempts = 1
        configuration.probeCache = .disabled
        configuration.refusesNonPublicAddresses = false  // the mock servers are on loopback
        return configuration
    }

    func coordinator(stagger: Duration = .milliseconds(250), budget: Duration = .seconds(3)) throws
        -> VerificationCoordinator
    {
        try VerificationCoordinator(configuration: configuration(stagger: stagger, budget: budget))
    }

    func stop() {
        smtp.stop()
        dns.stop()
        for host in hosts { host.stop() }
    }
}

/// A verification message to `to`.
func welcome(_ to: String) throws -> Message {
    Message(
        from: try EmailAddress("app@client.test"), to: try EmailAddress(to),
        subject: "Your code: 123456", text: "Welcome! Your code is 123456.")
}
