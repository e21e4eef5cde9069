import DNSClient

/// libFuzzer's per-input callback: any bytes must decode to a message or a
/// `DNSWireError`, never trap, and a decoded message must survive encode + decode
/// unchanged.
@_cdecl("LLVMFuzzerTestOneInput")
public func dnsDecoderFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let raw = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    guard let message = try? DNSMessage(decoding: raw) else { return 0 }
    let encoded = message.encoded()
    guard let again = try? DNSMessage(decoding: encoded), again == message else {
        fatalError("round trip changed a decoded message")
    }
    return 0
}

/// libFuzzer's driver (compiler-rt, LLVM 11+).
@_silgen_name("LLVMFuzzerRunDriver")
func llvmFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// SwiftPM links executables with `--defsym main=<Module>_main`; with
/// `-parse-as-library` there is no generated main, so this is the process entry, and it
/// hands control to libFuzzer's driver.
@_cdecl("DNSDecoderFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?)
    -> CInt
{
    var count = argc
    var arguments = argv
    return llvmFuzzerRunDriver(&count, &arguments) { data, size in dnsDecoderFuzz(data, size) }
}
