import Sockets
import Testing

@testable import SPF

/// RFC 7208 §7.4's macro examples: sender strong-bad@email.example.com, client 192.0.2.3
/// (and 2001:db8::cb01 for the IPv6 one).
@Suite struct SPFMacroTests {
    static let context = SPFMacro.Context(
        sender: "strong-bad@email.example.com", domain: "email.example.com",
        ip: IPAddress("192.0.2.3")!, helo: "mx.example.org")

    @Test(arguments: [
        ("%{s}", "strong-bad@email.example.com"), ("%{o}", "email.example.com"),
        ("%{d}", "email.example.com"), ("%{d4}", "email.example.com"), ("%{d3}", "email.example.com"),
        ("%{d2}", "example.com"), ("%{d1}", "com"), ("%{dr}", "com.example.email"),
        ("%{d2r}", "example.email"), ("%{l}", "strong-bad"), ("%{l-}", "strong.bad"),
        ("%{lr}", "strong-bad"), ("%{lr-}", "bad.strong"), ("%{l1r-}", "strong"),
        ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
        ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
        ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
        ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
        ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
        ("%{h}", "mx.example.org"), ("%%%_%-", "% %20"), ("%{S}", "strong-bad%40email.example.com"),
    ])
    func rfcExamples(_ macro: String, _ expected: String) {
        #expect(SPFMacro.expand(macro, context: Self.context) == expected)
    }

    @Test func ipv6() {
        var context = Self.context
        context.ip = IPAddress("2001:db8::cb01")!
        #expect(
            SPFMacro.expand("%{ir}.%{v}._spf.%{d2}", context: context)
                == "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com")
    }

    @Test(arguments: ["%", "%x", "%{", "%{q}", "%{d0}", "%{dx}", "a b"])
    func malformed(_ macro: String) {
        #expect(SPFMacro.expand(macro, context: Self.context) == nil)
    }
}
