import DNSClient
import FuzzDriver

/// libFuzzer's per-input callback: any bytes must decode to a message or a
/// `DNSWireError`, never trap, and a decoded message must survive encode + decode
/// unchanged.
@_cdecl("LLVMFuzzerTestOneInput")
public func dnsDecoderFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let message = try? DNSMessage(decoding: fuzzInput(data, size)) else { return 0 }
    let encoded = message.encoded()
    guard let again = try? DNSMessage(decoding: encoded), again == message else {
        fatalError("round trip changed a decoded message")
    }
    return 0
}

@_cdecl("DNSDecoderFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?)
    -> CInt
{
    runFuzzer(argc, argv) { data, size in dnsDecoderFuzz(data, size) }
}
