import Testing

@testable import DKIM

@Suite struct DKIMCanonicalizationTests {
    /// RFC 6376 §3.4.5, the relaxed header example.
    @Test func rfc6376HeaderExample() {
        let message = Array("A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n".utf8)
        let parts = DKIMMessageParts(message)
        #expect(parts.fields.map(\.name) == ["a", "b"])
        let canonical = parts.fields.map {
            String(decoding: DKIMCanonicalization.relaxedHeader($0.raw), as: UTF8.self)
        }
        #expect(canonical == ["a:X", "b:Y Z"])
    }

    /// RFC 6376 §3.4.5, the relaxed body example.
    @Test func rfc6376BodyExample() {
        let body = Array(" C \r\nD \t E\r\n\r\n\r\n".utf8)
        #expect(String(decoding: DKIMCanonicalization.relaxedBody(body), as: UTF8.self) == " C\r\nD E\r\n")
    }

    @Test(arguments: [
        ("", ""),
        ("\r\n", ""),
        ("\r\n\r\n\r\n", ""),
        ("  \t \r\n", ""),
        ("no line end", "no line end\r\n"),
        ("trailing   \t", "trailing\r\n"),
        ("a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n"),
        ("a  b\t\tc  \r\n", "a b c\r\n"),
        ("bare\nlf\n\n", "bare\r\nlf\r\n"),
        ("\t lead\r\n", " lead\r\n"),
        (".dot\r\n..two\r\n", ".dot\r\n..two\r\n"),
        ("x\r\n \r\n\t\r\n", "x\r\n"),
        ("grüße  \r\n", "grüße\r\n"),
    ])
    func relaxedBody(_ input: String, _ expected: String) {
        let output = DKIMCanonicalization.relaxedBody(Array(input.utf8))
        #expect(String(decoding: output, as: UTF8.self) == expected)
    }

    @Test(arguments: [
        ("Subject: Hello", "subject:Hello"),
        ("SubJect :  a \t b  \r\n\t c  ", "subject:a b c"),
        ("X-Empty:", "x-empty:"),
        ("X-Empty:   ", "x-empty:"),
        ("To:\r\n  jane@example.com", "to:jane@example.com"),
    ])
    func relaxedHeader(_ input: String, _ expected: String) {
        let output = DKIMCanonicalization.relaxedHeader(Array(input.utf8))
        #expect(String(decoding: output, as: UTF8.self) == expected)
    }

    @Test func selectionTakesInstancesFromTheBottomUp() {
        let parts = DKIMMessageParts(Array("A: 1\r\nB: 2\r\n  more\r\nA: 3\r\n\r\nbody".utf8))
        #expect(parts.fields.map(\.name) == ["a", "b", "a"])
        #expect(String(decoding: parts.body, as: UTF8.self) == "body")
        let selected = parts.select(["a", "a", "a", "b"]).map {
            String(decoding: $0.raw, as: UTF8.self)
        }
        #expect(selected == ["A: 3", "A: 1", "B: 2\r\n  more"])
    }

    @Test func messageWithoutBody() {
        let parts = DKIMMessageParts(Array("From: a@b.example\r\nTo: c@d.example\r\n".utf8))
        #expect(parts.fields.map { String(decoding: $0.raw, as: UTF8.self) } == [
            "From: a@b.example", "To: c@d.example",
        ])
        #expect(parts.body.isEmpty)
    }
}
