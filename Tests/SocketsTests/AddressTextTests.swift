import Sockets
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Address text")
struct AddressTextTests {
    /// What inet_ntop writes for `bytes`: the reference for the fast IPv4 path.
    private func reference(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        _ = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, 64) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    @Test("IPv4 text matches inet_ntop, edge bytes and 2,000 random addresses")
    func ipv4() throws {
        var generator = SystemRandomNumberGenerator()
        var samples: [[UInt8]] = [[0, 0, 0, 0], [255, 255, 255, 255], [127, 0, 0, 1], [10, 9, 99, 100]]
        for _ in 0..<2_000 { samples.append((0..<4).map { _ in UInt8.random(in: 0...255, using: &generator) }) }
        for bytes in samples {
            let text = reference(bytes)
            let address = try SocketAddress(ip: text, port: 25)
            #expect(address.ip == text)
            #expect(address.description == "\(text):25")
            #expect(IPAddress(text)?.description == text)
        }
    }

    @Test("IPv4 with ports of every width: the description is the address, a colon and the port")
    func ports() throws {
        for port in [0, 9, 10, 99, 100, 999, 1000, 9999, 10000, 65535] {
            #expect(try SocketAddress(ip: "255.255.255.255", port: port).description == "255.255.255.255:\(port)")
            #expect(try SocketAddress(ip: "1.2.3.4", port: port).description == "1.2.3.4:\(port)")
        }
    }

    /// What inet_pton takes from `text` (brackets removed as the parser removes them).
    private func referenceParse(_ text: String) -> [UInt8]? {
        var inner = text
        if inner.utf8.count >= 2, inner.utf8.first == UInt8(ascii: "["), inner.utf8.last == UInt8(ascii: "]") {
            inner = String(decoding: inner.utf8.dropFirst().dropLast(), as: UTF8.self)
        }
        guard !inner.utf8.contains(0) else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, inner, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, inner, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    @Test("parsing takes exactly what inet_pton takes, brackets or not")
    func parsing() {
        let inputs = [
            "127.0.0.1", "[127.0.0.1]", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3",
            "1.2.3.4.5", "1..2.3", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4\u{0}", "", "[]", "[", "]", "[[::1]]", "::1",
            "[::1]", "::", "2001:db8::1", "[2001:db8::1]", "2001:db8::1:", "12345::1", "::ffff:192.0.2.1",
            "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", "0000:0000:0000:0000:0000:0000:0000:0000",
            "0000:0000:0000:0000:0000:0000:0000:00000", String(repeating: "1", count: 100), "localhost",
            "é.1.2.3", "1.2.3.4\u{301}", "[1.2.3.4\u{301}]", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9",
        ]
        for text in inputs {
            let parsed = try? SocketAddress(ip: text, port: 25)
            #expect(parsed?.bytes == referenceParse(text), "\(text.debugDescription)")
            #expect(IPAddress(text)?.bytes == referenceParse(text), "\(text.debugDescription)")
        }
    }

    @Test("IPv6 text is inet_ntop's", arguments: ["::1", "2001:db8::1", "fe80::1:2:3:4", "::ffff:192.0.2.1", "1:2:3:4:5:6:7:8"])
    func ipv6(text: String) throws {
        let address = try SocketAddress(ip: text, port: 25)
        #expect(address.ip == reference(address.bytes))
        #expect(address.description == "[\(address.ip)]:25")
    }
}
