import HTTPTypes
import HummingbirdTesting
import SignupApp
import Testing

/// Each scenario, from the form to the page text a person reads.
@Suite struct ScenarioPageTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var address: String
        var status: HTTPResponse.Status
        var outcome: String
        var reason: String
        var sentence: String
        var keepsPending: Bool
        var testDescription: String { "\(address) → \(reason)" }
    }

    static let cases: [Case] = [
        Case(
            address: "jane@dns-down.test", status: .accepted, outcome: "inconclusive",
            reason: "dns-unavailable",
            sentence: "its name servers did not answer", keepsPending: true),
        Case(
            address: "jane@unreachable.test", status: .accepted, outcome: "inconclusive",
            reason: "no-reachable-host", sentence: "did not answer us just now",
            keepsPending: true),
        Case(
            address: "jane@null-mx.test", status: .unprocessableContent, outcome: "terminal",
            reason: "no-mail-server", sentence: "does not receive email: it has no mail server",
            keepsPending: false),
        Case(
            address: "blocked@example.test", status: .unprocessableContent, outcome: "terminal",
            reason: "sender-rejected", sentence: "refuses email from us", keepsPending: false),
        Case(
            address: "nobody@example.test", status: .unprocessableContent, outcome: "terminal",
            reason: "recipient-rejected", sentence: "says there is no mailbox nobody@example.test",
            keepsPending: false),
        Case(
            address: "jane@example.test", status: .ok, outcome: "accepted", reason: "accepted",
            sentence: "We sent you a code", keepsPending: true),
        Case(
            address: "grey@example.test", status: .accepted, outcome: "inconclusive",
            reason: "temporary-failure", sentence: "asked us to try again later",
            keepsPending: true),
    ]

    @Test(arguments: cases)
    func formShowsWhatTheOutcomeMeans(_ scenario: Case) async throws {
        let service = try TestService()
        try await service.run { app, client in
            let (status, page) = try await client.postForm("/signup", ["email": scenario.address])
            #expect(status == scenario.status)
            #expect(outcome(of: page) == scenario.outcome)
            #expect(page.contains(scenario.sentence), "\(page)")
            let pending = try await app.store.all()
            #expect(pending.count == (scenario.keepsPending ? 1 : 0))
            switch scenario.outcome {
            case "inconclusive":
                #expect(page.contains("We could not verify the address, but if it is a live address the code will arrive in due course"))
                #expect(page.contains("id=\"verify-form\""))
                let queued = try await app.mailer.queuedMessageIDs()
                #expect(queued == pending.map(\.messageID))
            case "terminal":
                #expect(page.contains("Nothing will be sent"))
                #expect(page.contains("id=\"signup-form\""))  // to correct the address
                #expect(page.contains("value=\"\(scenario.address)\""))
                #expect(try await app.mailer.queuedMessageIDs().isEmpty)
            default:
                #expect(service.world.lastCode(for: scenario.address) != nil)
                #expect(!page.contains("in due course"))
            }
        }
    }

    @Test func badAddressIsRefusedBeforeAnyNetworkTraffic() async throws {
        let service = try TestService()
        try await service.run { app, client in
            for bad in ["jane", "jane@@example.test", "jane@example.test\r\nRCPT TO:<x@y.test>", ""] {
                let (status, page) = try await client.postForm("/signup", ["email": bad])
                #expect(status == .badRequest)
                #expect(outcome(of: page) == "bad-address")
                #expect(page.contains("Nothing was sent"))
            }
            #expect(service.world.dns.totalQueryCount == 0)
            #expect(service.world.smtp.connectionCount == 0)
            #expect(try await app.store.all().isEmpty)
        }
    }

    @Test func repeatedSignupsForOneAddressAreLimited() async throws {
        let service = try TestService()
        try await service.run { _, client in
            for _ in 1...3 {
                let (status, _) = try await client.postForm("/signup", ["email": "jane@example.test"])
                #expect(status == .ok)
            }
            let (status, page) = try await client.postForm("/signup", ["email": "jane@example.test"])
            #expect(status == .tooManyRequests)
            #expect(outcome(of: page) == "too-many")
            #expect(service.world.deliveryCount(for: "jane@example.test") == 3)
            service.clock.advance(by: .seconds(3601))
            let (later, _) = try await client.postForm("/signup", ["email": "jane@example.test"])
            #expect(later == .ok)
        }
    }

    @Test func jsonEndpointAnswersPerOutcome() async throws {
        let service = try TestService()
        try await service.run { _, client in
            let (sent, answer) = try await client.postJSON("/api/signup", ["email": "jane@example.test"])
            #expect(sent == .ok)
            #expect(answer["status"] == "sent")
            #expect(answer["id"] != nil)
            let (queued, deferred) = try await client.postJSON("/api/signup", ["email": "jane@dns-down.test"])
            #expect(queued == .accepted)
            #expect(deferred["status"] == "queued")
            #expect(deferred["reason"] == "dns-unavailable")
            #expect(deferred["message"]?.contains("will arrive in due course") == true)
            let (refused, rejected) = try await client.postJSON("/api/signup", ["email": "nobody@example.test"])
            #expect(refused == .unprocessableContent)
            #expect(rejected["status"] == "refused")
            #expect(rejected["reason"] == "recipient-rejected")
            let (bad, badAnswer) = try await client.postJSON("/api/signup", ["email": "not an address"])
            #expect(bad == .badRequest)
            #expect(badAnswer["status"] == "bad-address")
        }
    }
}
