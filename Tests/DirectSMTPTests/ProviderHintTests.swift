@testable import DirectSMTP
import DirectSMTPTesting
import SMTPClient
import Sockets
import Testing

/// A mock DNS server naming one MX host (the mock SMTP server on 127.0.0.1) for
/// `hint.test`, and coordinators aimed at them.
struct OneHostWorld {
    let dns: MockDNSServer
    let smtp: MockSMTPServer

    static func start(_ configure: (inout MockSMTPScript) -> Void = { _ in }) throws -> OneHostWorld {
        let smtp = try MockSMTPServer.start(configure: configure)
        let dns = try MockDNSServer.start()
        dns.setMX("hint.test", [(10, "mx.hint.test")])
        dns.setA("mx.hint.test", ["127.0.0.1"])
        return OneHostWorld(dns: dns, smtp: smtp)
    }

    func configuration() -> VerificationCoordinator.Configuration {
        Self.configuration(dns: dns.address, port: smtp.port)
    }

    /// A configuration for mock servers on loopback: no probe cache, 8 s step timeouts
    /// (a test that ends sooner shows the logic at work, not a timeout).
    static func configuration(dns: SocketAddress, port: Int) -> VerificationCoordinator.Configuration {
        var configuration = VerificationCoordinator.Configuration(
            heloName: "client.test", nameservers: [dns], smtpPort: port,
            timeouts: .uniform(.seconds(8)))
        configuration.dnsAttempts = 1
        configuration.probeCache = .disabled
        configuration.refusesNonPublicAddresses = false  // the mock servers are on loopback
        return configuration
    }

    func stop() {
        smtp.stop()
        dns.stop()
    }
}

/// The providers' documented replies, through the coordinator against the mock server, at
/// the step they come at: the outcome's reason, `hint` (and its JSON) and detail.
@Suite("Provider replies: outcome hints", .serialized, .timeLimit(.minutes(1)))
struct ProviderHintTests {
    enum Place: String, Sendable {
        case greeting, mail, rcpt, endOfData = "end-of-data"
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var place: Place
        var code: Int
        var text: String
        var probe = false
        var reason: OutcomeReason
        var hint: DeliveryHint?
        var detail: String?
        var testDescription: String { "\(code) \(text) at \(place.rawValue)\(probe ? " (probe)" : "")" }
    }

    static let cases: [Case] = [
        // Gmail's authentication verdicts arrive after the end of DATA: only a send learns them.
        Case(place: .endOfData, code: 550, text: "5.7.26 This mail is unauthenticated", reason: .senderRejected, hint: .authentication, detail: "directsmtp doctor"),
        Case(place: .endOfData, code: 421, text: "4.7.26 rate limited because it is unauthenticated", reason: .temporaryFailure, hint: .authentication, detail: "directsmtp doctor"),
        Case(place: .endOfData, code: 550, text: "5.7.515 Access denied, sending domain does not meet the required authentication level", reason: .senderRejected, hint: .authentication, detail: "directsmtp doctor"),
        Case(place: .endOfData, code: 554, text: "5.7.9 Message not accepted for policy reasons", reason: .senderRejected, hint: .authentication, detail: "directsmtp doctor"),
        // An authentication refusal at RCPT whose enhanced code's class disagrees: still ours.
        Case(place: .rcpt, code: 550, text: "4.7.26 unauthenticated", reason: .senderRejected, hint: .authentication, detail: "the reply code decides (permanent)"),
        // Gmail prints 421 5.7.32: the reply code decides (temporary), the mismatch is kept.
        Case(place: .endOfData, code: 421, text: "5.7.32 a mismatched class", reason: .temporaryFailure, hint: nil, detail: "disagrees with the reply code 421"),
        Case(place: .rcpt, code: 550, text: "5.7.25 The IP address sending this message does not have a PTR record setup", reason: .senderRejected, hint: .reverseDNS, detail: "PTR"),
        Case(place: .rcpt, code: 451, text: "4.7.23 The sending IP does not have a PTR record", reason: .temporaryFailure, hint: .reverseDNS),
        Case(place: .mail, code: 530, text: "5.7.0 Must issue a STARTTLS command first", reason: .temporaryFailure, hint: .tlsRequired, detail: "demands TLS"),
        Case(place: .mail, code: 421, text: "RP-001 (BAY004) Unfortunately, some messages weren't sent", reason: .temporaryFailure, hint: .rateLimited),
        Case(place: .rcpt, code: 451, text: "4.7.500 Server busy. Please try again later", reason: .temporaryFailure, hint: .rateLimited),
        Case(place: .rcpt, code: 550, text: "5.7.1 part of their network is on our block list (S3150)", reason: .senderRejected, hint: .blocklisted),
        Case(place: .rcpt, code: 450, text: "4.2.1 The user you are trying to contact is receiving mail too quickly", reason: .temporaryFailure, hint: .mailboxBusy),
        Case(place: .rcpt, code: 450, text: "4.2.1 receiving mail too quickly", probe: true, reason: .temporaryFailure, hint: .mailboxBusy),
        Case(place: .rcpt, code: 550, text: "5.7.28 unusual rate of unsolicited mail", probe: true, reason: .senderRejected, hint: .rateLimited),
        Case(place: .greeting, code: 554, text: "5.7.1 Service unavailable; client host blocked using Spamhaus", reason: .senderRejected, hint: .blocklisted),
        Case(place: .greeting, code: 421, text: "4.7.0 Try again later, closing connection. PTR record missing", reason: .noReachableHost, hint: .reverseDNS),
        // Ordinary replies keep their meaning and carry no hint.
        Case(place: .rcpt, code: 550, text: "5.1.1 no such user", reason: .recipientRejected, hint: nil),
        Case(place: .rcpt, code: 450, text: "4.2.0 greylisted", reason: .temporaryFailure, hint: nil),
    ]

    @Test(arguments: cases)
    func hint(_ entry: Case) async throws {
        let response = MockSMTPResponse.reply(entry.code, entry.text)
        let world = try OneHostWorld.start { script in
            switch entry.place {
            case .greeting: script.greeting = response
            case .mail: script.mail = response
            case .rcpt: script.rcpt = response
            case .endOfData: script.endOfData = response
            }
        }
        defer { world.stop() }
        let coordinator = try VerificationCoordinator(configuration: world.configuration())
        let address = try EmailAddress("jane@hint.test")
        let outcome =
            entry.probe
            ? await coordinator.probe(address)
            : await coordinator.send(
                Message(
                    from: try EmailAddress("app@client.test"), to: address, subject: "Your code",
                    text: "123456"))
        #expect(outcome.reason == entry.reason, "\(outcome.json)")
        #expect(outcome.hint == entry.hint, "\(outcome.json)")
        #expect(outcome.reply?.code == entry.code)
        if let detail = entry.detail {
            #expect(outcome.detail?.contains(detail) == true, "\(outcome.detail ?? "no detail")")
        }
        let json = entry.hint.map { "\"hint\":\"\($0.rawValue)\"" } ?? "\"hint\":null"
        #expect(outcome.json.contains(json), "\(outcome.json)")
    }

    @Test("A send whose DKIM signing fails sends nothing and says why")
    func unsignedIsNotSent() throws {
        let message = Message(
            from: try EmailAddress("app@client.test"), to: try EmailAddress("jane@hint.test"),
            subject: "x", text: "x")
        let outcome = VerificationCoordinator.unsigned(
            message, error: DKIMError(.signingFailed, "EVP_DigestSign failed"), messageID: "<1@x>",
            start: .now)
        #expect(outcome.status == .deferred && !outcome.queued && outcome.mx == nil)
        #expect(outcome.hint == .authentication && outcome.messageID == "<1@x>")
        #expect(outcome.detail?.contains("DKIM signing failed (signing-failed: EVP_DigestSign failed); nothing was sent") == true)
    }
}
