import SMTPClient
import Testing

private let invalidAddresses: [(String, EmailAddressError.Code)] = [
        ("a@b.com\r\nRCPT TO:<x>", EmailAddressError.Code.forbiddenCharacter),
        ("a@b.com\nRCPT TO:<x>", .forbiddenCharacter),
        ("a\r@b.com", .forbiddenCharacter),
        ("a@b.com\u{0}", .forbiddenCharacter),
        ("\"a\r\nb\"@b.com", .forbiddenCharacter),
        ("plainaddress", .missingAt),
        ("@example.com", .missingAt),
        ("user@", .missingAt),
        ("a..b@example.com", .invalidLocalPart),
        (".a@example.com", .invalidLocalPart),
        ("a.@example.com", .invalidLocalPart),
        ("a b@example.com", .invalidLocalPart),
        ("a<b>@example.com", .invalidLocalPart),
        ("\"unclosed@example.com", .invalidLocalPart),
        (String(repeating: "a", count: 65) + "@example.com", .localPartTooLong),
        ("user@exa mple.com", .invalidDomain),
        ("user@-example.com", .invalidDomain),
        ("user@example..com", .invalidDomain),
        ("user@example.com.", .invalidDomain),
        ("user@under_score.com", .invalidDomain),
        ("user@[300.0.0.1]", .invalidAddressLiteral),
        ("user@[IPv6:zz::1]", .invalidAddressLiteral),
        ("user@[192.0.2.1", .invalidAddressLiteral),
        ("user@[IPv6:192.0.2.1]", .invalidAddressLiteral),
        ("user@[ipv6:2001:db8::1:]", .invalidAddressLiteral),
        ("user@[2001:db8::1]", .invalidAddressLiteral),
        ("user@[IPv6:\u{301}2001:db8::1]", .invalidAddressLiteral),
        ("user@[192.0.2.1\u{301}]", .invalidAddressLiteral),
        // "[" with a combining mark is another character: not a literal, a bad name.
        ("user@[\u{301}192.0.2.1]", .invalidDomain),
        ("user@" + Array(repeating: String(repeating: "a", count: 63), count: 4).joined(separator: "."), .domainTooLong),
        (String(repeating: "a", count: 64) + "@" + Array(repeating: String(repeating: "b", count: 63), count: 3).joined(separator: ".") + ".cc", .addressTooLong),
]

@Suite("EmailAddress")
struct EmailAddressTests {
    @Test("Valid addresses and the form they are sent in", arguments: [
        ("jane@example.com", "jane@example.com", false),
        ("Jane.Doe@EXAMPLE.com", "Jane.Doe@example.com", false),
        ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk", false),
        ("!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~@example.com", false),
        ("\"a b\"@example.com", "\"a b\"@example.com", false),
        ("\"a@b\"@example.com", "\"a@b\"@example.com", false),
        ("\"a\\\"b\"@example.com", "\"a\\\"b\"@example.com", false),
        ("user@[192.0.2.1]", "user@[192.0.2.1]", false),
        ("user@[IPv6:2001:db8::1]", "user@[IPv6:2001:db8::1]", false),
        ("user@[ipv6:2001:DB8:0::1]", "user@[IPv6:2001:db8::1]", false),
        ("user@[IpV6:::ffff:192.0.2.1]", "user@[IPv6:::ffff:192.0.2.1]", false),
        ("user@bücher.example", "user@xn--bcher-kva.example", false),
        ("用户@例子.广告", "用户@xn--fsqu00a.xn--4rr70v", true),
        ("josé@example.com", "josé@example.com", true),
        ("postmaster@localhost", "postmaster@localhost", false),
    ])
    func valid(text: String, sent: String, utf8: Bool) throws {
        let address = try EmailAddress(text)
        #expect(address.description == sent)
        #expect(address.requiresSMTPUTF8 == utf8)
    }

    @Test("Invalid addresses give a typed error", arguments: invalidAddresses)
    func invalid(text: String, code: EmailAddressError.Code) {
        do {
            _ = try EmailAddress(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.code == code)
            #expect(!error.message.contains("\r") && !error.message.contains("\n"))
        }
    }

    @Test("Error messages show no control character and stay short", arguments: [
        "a\u{1B}[2J b@example.com", "x\u{7F}\u{9B}31m y@example.com", "user@ex\u{1B}ample.com",
        String(repeating: "\u{1B}", count: 10_000) + "@example.com",
    ])
    func safeMessages(text: String) {
        do {
            _ = try EmailAddress(text)
            Issue.record("accepted \(text.debugDescription)")
        } catch {
            #expect(!error.message.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
            #expect(error.message.count < 500)
        }
    }

    @Test("The limits are inclusive: 64-byte local part, 254-byte address")
    func limits() throws {
        let local = String(repeating: "a", count: 64)
        _ = try EmailAddress("\(local)@example.com")
        let domain = Array(repeating: String(repeating: "b", count: 61), count: 2).joined(separator: ".") + "." + String(repeating: "b", count: 62) + ".cc"
        let address = try EmailAddress("\(local)@\(domain)")
        #expect(address.description.utf8.count == 254)
    }

    @Test("HELO names are validated like domains", arguments: [
        ("mail.example.com", true), ("Bücher.example", true), ("[192.0.2.1]", true),
        ("bad\r\nMAIL FROM:<x>", false), ("with space", false), ("nul\u{0}", false), ("", false),
    ])
    func heloName(name: String, valid: Bool) {
        let configuration = try? SMTPSessionConfiguration(heloName: name)
        #expect((configuration != nil) == valid)
        if name == "Bücher.example" { #expect(configuration?.heloName == "xn--bcher-kva.example") }
    }

    @Test("A huge address from a form field is refused at once (no quadratic IDNA work)")
    func hugeAddress() {
        let domain = String(String.UnicodeScalarView((0x4E00..<0x4E00 + 40_000).compactMap(Unicode.Scalar.init)))
        // CPU time of this thread (the test is synchronous, so it stays on one): the cost of
        // the refusal, not the waits of a loaded machine.
        let cost = threadCPUTime {
            #expect(throws: EmailAddressError.self) { try EmailAddress("jane@\(domain).com") }
            #expect(throws: EmailAddressError.self) { try SMTPSessionConfiguration(heloName: domain) }
        }
        #expect(cost < .seconds(1))
    }

    @Test("Credentials never print")
    func credentialsRedacted() throws {
        let credentials = try SMTPCredentials(username: "user", password: "hunter2")
        #expect(!"\(credentials)".contains("hunter2"))
        // Regression: dump() and reflection went through Mirror and showed both fields.
        var dumped = ""
        dump(credentials, to: &dumped)
        #expect(!dumped.contains("hunter2"))
        let configuration = try SMTPSessionConfiguration(heloName: "client.test", credentials: credentials)
        var dumpedConfiguration = ""
        dump(configuration, to: &dumpedConfiguration)
        #expect(!dumpedConfiguration.contains("hunter2"))
        #expect(!"\(configuration)".contains("hunter2"))
        #expect(!String(reflecting: configuration).contains("hunter2"))
        #expect(Mirror(reflecting: credentials).children.isEmpty)
        #expect(throws: EmailAddressError.self) { try SMTPCredentials(username: "u\r\n", password: "p") }
    }
}
