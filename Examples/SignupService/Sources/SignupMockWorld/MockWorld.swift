import DirectSMTPTesting
import Foundation
import SignupApp

/// Mock DNS and SMTP servers on loopback (127.0.0.0/8 only), one domain per scenario:
///
/// | address | outcome |
/// |---|---|
/// | `jane@dns-down.test` | 1 DNS down (SERVFAIL): inconclusive, `dns-unavailable` |
/// | `jane@unreachable.test` | 2 MX hosts where nothing listens: inconclusive, `no-reachable-host` |
/// | `jane@null-mx.test` | 3 null MX: terminal, `no-mail-server` |
/// | `blocked@example.test` | 4 550 5.7.1 at RCPT: terminal, `sender-rejected` |
/// | `nobody@example.test` | 5 550 5.1.1: terminal, `recipient-rejected` |
/// | anyone else `@example.test` | 6 accepted |
/// | `grey@example.test` | 2 451 4.7.1 (greylisted): inconclusive, `temporary-failure` |
///
/// ``setRecipient(_:_:)`` changes one recipient's answer later (a greylisted address
/// that a retry delivers, or one that a retry finds gone).
public final class MockWorld: Sendable {
    /// The mock DNS server.
    public let dns: MockDNSServer
    /// The mock SMTP server: the MX host of `example.test`, on 127.0.0.1.
    public let smtp: MockSMTPServer

    /// Starts the servers.
    public static func start() throws -> MockWorld {
        var script = MockSMTPScript()
        script.recipients["blocked@example.test"] = .reply(550, "5.7.1 rejected by local policy")
        script.recipients["nobody@example.test"] = .reply(550, "5.1.1 no such user here")
        script.recipients["grey@example.test"] = .reply(451, "4.7.1 greylisted, try again later")
        script.recordsReads = false
        let smtp = try MockSMTPServer.start(script)
        let dns = try MockDNSServer.start()
        dns.setBehavior(.servfail, for: "dns-down.test")
        dns.setMX("unreachable.test", [(10, "mx1.unreachable.test"), (20, "mx2.unreachable.test")])
        dns.setA("mx1.unreachable.test", ["127.0.0.5"])
        dns.setA("mx2.unreachable.test", ["127.0.0.6"])
        dns.setNullMX("null-mx.test")
        dns.setMX("example.test", [(10, "mx.example.test")])
        dns.setA("mx.example.test", ["127.0.0.1"])
        return MockWorld(dns: dns, smtp: smtp)
    }

    private init(dns: MockDNSServer, smtp: MockSMTPServer) {
        self.dns = dns
        self.smtp = smtp
    }

    /// Mailer settings aimed at this world: its DNS, its SMTP port, loopback allowed.
    public func mailerSettings(journalPath: String) -> MailerSettings {
        var settings = MailerSettings(
            heloName: "signup.test", sender: "noreply@signup.test", journalPath: journalPath)
        settings.nameservers = [dns.address.description]
        settings.smtpPort = smtp.port
        settings.refusesNonPublicAddresses = false  // the mocks live on loopback
        settings.firstRetry = .seconds(60)
        settings.maxAge = .seconds(3600)
        return settings
    }

    /// Makes the mock server answer RCPT for `address` with `code text` from now on,
    /// after `delay`; `nil` makes it accept.
    public func setRecipient(
        _ address: String, _ reply: (code: Int, text: String)?, delay: Duration = .zero
    ) {
        smtp.update { script in
            script.recipients[address] = reply.map { .reply($0.code, $0.text).delayed(by: delay) }
        }
    }

    /// The code in the last message the mock server received for `address`.
    public func lastCode(for address: String) -> String? {
        guard let delivery = smtp.deliveries.last(where: { $0.to.contains(address) }) else {
            return nil
        }
        return Self.code(in: delivery.text)
    }

    /// How many messages the mock server received for `address`.
    public func deliveryCount(for address: String) -> Int {
        smtp.deliveries.count { $0.to.contains(address) }
    }

    static func code(in text: String) -> String? {
        guard let range = text.range(of: "code is ") else { return nil }
        let digits = text[range.upperBound...].prefix { $0.isNumber }
        return digits.count == 6 ? String(digits) : nil
    }

    /// Stops the servers.
    public func stop() {
        smtp.stop()
        dns.stop()
    }
}
