import DNSClient
import DirectSMTPTesting
import SPF
import Sockets
import Testing

/// RFC 7208 appendix A's examples, served by MockDNSServer and read through the library's
/// own resolver (its zone: example.com with A 192.0.2.10/.11, MX mail-a/mail-b at
/// 192.0.2.129/.130; example.org with MX mail-c at 192.0.2.140 and no A record).
@Suite struct RFC7208AppendixTests {
    static func zone(_ record: String) -> SPFZone {
        SPFZone(entries: [
            "example.com": [.txt(record), .a("192.0.2.10"), .a("192.0.2.11"),
                            .mx(10, "mail-a.example.com"), .mx(20, "mail-b.example.com")],
            "amy.example.com": [.a("192.0.2.65")],
            "bob.example.com": [.a("192.0.2.66")],
            "mail-a.example.com": [.a("192.0.2.129")],
            "mail-b.example.com": [.a("192.0.2.130")],
            "example.org": [.mx(10, "mail-c.example.org")],
            "mail-c.example.org": [.a("192.0.2.140")],
        ])
    }

    static let probes = ["192.0.2.10", "192.0.2.11", "192.0.2.65", "192.0.2.129", "192.0.2.130",
                         "192.0.2.131", "192.0.2.140", "192.0.2.143", "192.0.2.200"]

    /// (record, the probe addresses that pass; every other one fails).
    @Test(arguments: [
        ("v=spf1 +all", probes),
        ("v=spf1 a -all", ["192.0.2.10", "192.0.2.11"]),
        ("v=spf1 a:example.org -all", []),
        ("v=spf1 mx -all", ["192.0.2.129", "192.0.2.130"]),
        ("v=spf1 mx:example.org -all", ["192.0.2.140"]),
        ("v=spf1 mx mx:example.org -all", ["192.0.2.129", "192.0.2.130", "192.0.2.140"]),
        ("v=spf1 mx/30 mx:example.org/30 -all", ["192.0.2.129", "192.0.2.130", "192.0.2.131", "192.0.2.140", "192.0.2.143"]),
        ("v=spf1 ptr -all", []),  // ptr never matches here (RFC 7208 §5.5)
        ("v=spf1 ip4:192.0.2.128/28 -all", ["192.0.2.129", "192.0.2.130", "192.0.2.131", "192.0.2.140", "192.0.2.143"]),
    ])
    func simpleExamples(_ record: String, _ passing: [String]) async throws {
        let server = try MockDNSServer.start()
        defer { server.stop() }
        Self.zone(record).load(into: server)
        let client = DNSQueryClient(configuration: server.resolverConfiguration())
        let evaluator = SPFEvaluator(
            lookup: SPFEvaluator.lookup(using: client, deadline: .now + .seconds(5)))
        for ip in Self.probes {
            let evaluation = await evaluator.check(
                ip: IPAddress(ip)!, domain: "example.com", sender: "joe@example.com", helo: "mx.example.net")
            #expect(evaluation.result == (passing.contains(ip) ? .pass : .fail), "\(record) for \(ip): \(evaluation.explanation)")
        }
    }
}

/// Cases from the OpenSPF test suite (rfc7208-tests.yml, openspf.org / pyspf), expressed
/// as zones; each names the suite's scenario it follows.
@Suite struct SPFEvaluatorTests {
    @Test func noRecordIsNone() async {
        let zone = SPFZone(entries: ["example.com": [.a("192.0.2.1")]])
        #expect(await zone.check("192.0.2.1", domain: "example.com").result == .none)
        #expect(await zone.check("192.0.2.1", domain: "missing.example").result == .none)
    }

    // "multitxt2" / "multispf1": two SPF records are a permerror; other TXT records are ignored.
    @Test func twoRecordsArePermerror() async {
        let zone = SPFZone(entries: ["example.com": [.txt("v=spf1 +all"), .txt("v=spf1 -all")]])
        #expect(await zone.check("192.0.2.1", domain: "example.com").result == .permerror)
        let other = SPFZone(entries: ["example.com": [.txt("google-site-verification=x"), .txt("v=spf1 +all"), .txt("v=spf10 -all")]])
        #expect(await other.check("192.0.2.1", domain: "example.com").result == .pass)
    }

    @Test(arguments: [
        ("v=spf1 -all", SPFResult.fail), ("v=spf1 ~all", .softfail), ("v=spf1 ?all", .neutral),
        ("v=spf1 +all", .pass), ("v=spf1 all", .pass), ("v=spf1", .neutral),
        ("V=SPF1 -ALL", .fail),
        // "modifier-charset-bad", "invalid-domain", "bad-mechanism" style errors.
        ("v=spf1 foo:bar -all", .permerror), ("v=spf1 ip4:192.0.2.300 -all", .permerror),
        ("v=spf1 ip4:192.0.2.0/33 -all", .permerror), ("v=spf1 ip6:192.0.2.1 -all", .permerror),
        ("v=spf1 a:%{q}.example.com -all", .permerror),
        // "redirect-dup", "exp-dup".
        ("v=spf1 redirect=a.example.com redirect=b.example.com", .permerror),
        ("v=spf1 exp=a.example.com exp=b.example.com -all", .permerror),
        // Unknown modifiers are ignored ("default-modifier").
        ("v=spf1 unknown=thing -all", .fail),
        // A match ends evaluation; redirect only applies when nothing matched.
        ("v=spf1 ip4:192.0.2.1 redirect=nospf.example.com", .pass),
    ])
    func qualifiersAndSyntax(_ record: String, _ expected: SPFResult) async {
        let zone = SPFZone(entries: ["example.com": [.txt(record)]])
        #expect(await zone.check("192.0.2.1", domain: "example.com").result == expected)
    }

    @Test func ip6AndMappedAddresses() async {
        let zone = SPFZone(entries: ["example.com": [.txt("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all")]])
        #expect(await zone.check("2001:db8::1", domain: "example.com").result == .pass)
        #expect(await zone.check("2001:db9::1", domain: "example.com").result == .fail)
        #expect(await zone.check("::ffff:192.0.2.7", domain: "example.com").result == .pass)
    }

    @Test func aAndMXUseTheClientsFamily() async {
        let zone = SPFZone(entries: [
            "example.com": [.txt("v=spf1 a mx//64 -all"), .a("192.0.2.10"), .aaaa("2001:db8::10"), .mx(10, "mx.example.com")],
            "mx.example.com": [.aaaa("2001:db8:1::1")],
        ])
        #expect(await zone.check("2001:db8::10", domain: "example.com").result == .pass)
        #expect(await zone.check("2001:db8:1::ffff", domain: "example.com").result == .pass)
        #expect(await zone.check("192.0.2.10", domain: "example.com").result == .pass)
        #expect(await zone.check("192.0.2.11", domain: "example.com").result == .fail)
    }

    // "include-fail", "include-softfail", "include-neutral", "include-temperror",
    // "include-permerror", "include-syntax-error", "include-none".
    @Test(arguments: [
        ("v=spf1 +all", SPFResult.pass), ("v=spf1 -all", .fail), ("v=spf1 ~all", .fail),
        ("v=spf1 ?all", .fail), ("v=spf1 include:", .permerror), ("v=spf1 bogus", .permerror),
    ])
    func include(_ included: String, _ expected: SPFResult) async {
        let zone = SPFZone(entries: [
            "example.com": [.txt("v=spf1 include:inc.example.com -all")],
            "inc.example.com": [.txt(included)],
        ])
        #expect(await zone.check("192.0.2.1", domain: "example.com").result == expected)
    }

    @Test func includeOfNothingAndOfAFailureAreErrors() async {
        let none = SPFZone(entries: ["example.com": [.txt("v=spf1 include:nospf.example.com -all")], "nospf.example.com": [.a("192.0.2.9")]])
        #expect(await none.check("192.0.2.1", domain: "example.com").result == .permerror)
        let temp = SPFZone(entries: ["example.com": [.txt("v=spf1 include:down.example.com -all")], "down.example.com": [.servfail]])
        #expect(await temp.check("192.0.2.1", domain: "example.com").result == .temperror)
        let own = SPFZone(entries: ["example.com": [.servfail]])
        #expect(await own.check("192.0.2.1", domain: "example.com").result == .temperror)
    }

    // "redirect-none", "redirect-cancels-exp", "redirect to a failing record".
    @Test func redirect() async {
        let zone = SPFZone(entries: [
            "example.com": [.txt("v=spf1 redirect=_spf.example.com")],
            "_spf.example.com": [.txt("v=spf1 ip4:192.0.2.0/24 -all")],
            "empty.example.com": [.txt("v=spf1 redirect=nothing.example.com")],
        ])
        #expect(await zone.check("192.0.2.1", domain: "example.com").result == .pass)
        #expect(await zone.check("198.51.100.1", domain: "example.com").result == .fail)
        #expect(await zone.check("192.0.2.1", domain: "empty.example.com").result == .permerror)
    }

    // "include-loop", "redirect-loop": a loop ends at the lookup limit.
    @Test func loopsArePermerror() async {
        let zone = SPFZone(entries: [
            "a.example.com": [.txt("v=spf1 include:b.example.com -all")],
            "b.example.com": [.txt("v=spf1 include:a.example.com -all")],
            "self.example.com": [.txt("v=spf1 redirect=self.example.com")],
        ])
        let loop = await zone.check("192.0.2.1", domain: "a.example.com")
        #expect(loop.result == .permerror)
        #expect(loop.explanation.contains("more than 10 DNS lookups"))
        #expect(await zone.check("192.0.2.1", domain: "self.example.com").result == .permerror)
    }

    // "many-includes" / "mx-limit": the eleventh lookup is a permerror, the tenth is fine.
    @Test func lookupLimit() async {
        var entries: [String: [SPFZone.Entry]] = [:]
        for index in 1...11 { entries["i\(index).example.com"] = [.txt("v=spf1 ?all")] }
        let ten = (1...10).map { "include:i\($0).example.com" }.joined(separator: " ")
        entries["ten.example.com"] = [.txt("v=spf1 \(ten) ip4:192.0.2.1 -all")]
        entries["eleven.example.com"] = [.txt("v=spf1 \(ten) include:i11.example.com ip4:192.0.2.1 -all")]
        let zone = SPFZone(entries: entries)
        let tenResult = await zone.check("192.0.2.1", domain: "ten.example.com")
        #expect(tenResult.result == .pass)
        #expect(tenResult.lookups == 10)
        #expect(await zone.check("192.0.2.1", domain: "eleven.example.com").result == .permerror)
        // ip4, ip6 and all cost no lookup.
        let free = SPFZone(entries: ["example.com": [.txt("v=spf1 " + String(repeating: "ip4:198.51.100.1 ", count: 20) + "ip4:192.0.2.1 -all")]])
        #expect(await free.check("192.0.2.1", domain: "example.com").result == .pass)
    }

    // "void-over-limit" / "void-at-limit": two lookups that find nothing are allowed, three are not.
    @Test func voidLookups() async {
        let zone = SPFZone(entries: [
            "two.example.com": [.txt("v=spf1 a:n1.example.com exists:n2.example.com ip4:192.0.2.1 -all")],
            "three.example.com": [.txt("v=spf1 a:n1.example.com mx:n2.example.com exists:n3.example.com ip4:192.0.2.1 -all")],
        ])
        let two = await zone.check("192.0.2.1", domain: "two.example.com")
        #expect(two.result == .pass)
        #expect(two.voidLookups == 2)
        let three = await zone.check("192.0.2.1", domain: "three.example.com")
        #expect(three.result == .permerror)
        #expect(three.explanation.contains("found nothing"))
    }

    @Test func mxWithMoreThanTenRecordsIsPermerror() async {
        var entries: [String: [SPFZone.Entry]] = ["example.com": [.txt("v=spf1 mx -all")]]
        entries["example.com"]! += (1...11).map { .mx($0, "mx\($0).example.com") }
        #expect(await SPFZone(entries: entries).check("192.0.2.1", domain: "example.com").result == .permerror)
    }

    // "exists-macro": exists with %{i} and %{l}.
    @Test func existsWithMacros() async {
        let zone = SPFZone(entries: [
            "example.com": [.txt("v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all")],
            "1.2.0.192.joe._spf.example.com": [.a("127.0.0.2")],
        ])
        #expect(await zone.check("192.0.2.1", domain: "example.com", sender: "joe@example.com").result == .pass)
        #expect(await zone.check("192.0.2.1", domain: "example.com", sender: "ann@example.com").result == .fail)
    }
}
