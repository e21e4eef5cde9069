import FuzzDriver
import IDNA
import SMTPClient

/// Form input: any text as an address, a subject and a body. Nothing may trap; an address
/// accepted must hold no CR, LF or NUL (it goes into RCPT TO), and the composed message
/// must keep every line within 998 bytes and end with CRLF; IDNA of the domain part must
/// not trap either way.
@_cdecl("LLVMFuzzerTestOneInput")
public func addressFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: fuzzInput(data, size), as: UTF8.self)
    let domain = text.split(separator: "@").last.map(String.init) ?? text
    _ = try? IDNA.toASCII(domain)
    _ = try? IDNA.toUnicode(domain)
    guard let address = try? EmailAddress(text) else { return 0 }
    let sent = address.description
    if sent.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
        fatalError("an accepted address holds CR, LF or NUL: \(sent.debugDescription)")
    }
    let bytes = Message(from: address, to: address, subject: text, text: text, fromName: text)
        .encoded().bytes
    var lineLength = 0
    for byte in bytes {
        if byte == 0x0A {
            lineLength = 0
        } else {
            lineLength += 1
            if lineLength > 999 { fatalError("a message line is longer than 998 bytes") }
        }
    }
    return 0
}

@_cdecl("AddressFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?)
    -> CInt
{
    runFuzzer(argc, argv) { data, size in addressFuzz(data, size) }
}
