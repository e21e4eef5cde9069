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

    @Test("IPv6 text is inet_ntop's", arguments: ["::1", "2001:db8::1", "fe80::1:2:3:4", "::ffff:192.0.2.1", "1:2:3:4:5:6:7:8"])
    func ipv6(text: String) throws {
        let address = try SocketAddress(ip: text, port: 25)
        #expect(address.ip == reference(address.bytes))
        #expect(address.description == "[\(address.ip)]:25")
    }
}
