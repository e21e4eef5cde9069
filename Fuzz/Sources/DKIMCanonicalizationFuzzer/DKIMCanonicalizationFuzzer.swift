import DKIM
import FuzzDriver

/// Any bytes as a header field and as a body through DKIM's relaxed canonicalization
/// (RFC 6376 §3.4.2, §3.4.4): nothing may trap, canonicalizing again changes nothing, and
/// the output has the shape the RFC gives (a header: no CR, LF or tab, no run of spaces,
/// none at the end, a lower-case name; a body: CRLF-terminated lines without trailing
/// white space or tabs, no empty line at the end).
@_cdecl("LLVMFuzzerTestOneInput")
public func dkimCanonicalizationFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = Array(fuzzInput(data, size))

    let header = DKIMCanonicalization.relaxedHeader(input)
    guard DKIMCanonicalization.relaxedHeader(header) == header else { fatalError("header not idempotent") }
    guard !header.contains(where: { $0 == cr || $0 == lf || $0 == tab }) else { fatalError("header keeps CR, LF or tab") }
    guard !containsRun(header, [space, space]), header.last != space else { fatalError("header keeps extra spaces") }
    let name = header.prefix { $0 != colon }
    guard !name.contains(where: { $0 == space || (0x41...0x5A).contains($0) }) else {
        fatalError("header name not lower-cased or keeps a space")
    }

    let body = DKIMCanonicalization.relaxedBody(input)
    guard DKIMCanonicalization.relaxedBody(body) == body else { fatalError("body not idempotent") }
    guard body.isEmpty || body.suffix(2).elementsEqual([cr, lf]) else { fatalError("body does not end with CRLF") }
    guard !body.suffix(4).elementsEqual([cr, lf, cr, lf]) else { fatalError("body keeps an empty last line") }
    guard !body.contains(tab), !containsRun(body, [space, space]), !containsRun(body, [space, cr, lf]) else {
        fatalError("body keeps white space the relaxed form removes")
    }
    return 0
}

let cr: UInt8 = 0x0D
let lf: UInt8 = 0x0A
let tab: UInt8 = 0x09
let space: UInt8 = 0x20
let colon: UInt8 = 0x3A

/// Whether `bytes` contains `run` anywhere.
func containsRun(_ bytes: [UInt8], _ run: [UInt8]) -> Bool {
    guard bytes.count >= run.count else { return false }
    for start in 0...(bytes.count - run.count) where bytes[start] == run[0] {
        if bytes[start..<(start + run.count)].elementsEqual(run) { return true }
    }
    return false
}

@_cdecl("DKIMCanonicalizationFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?)
    -> CInt
{
    runFuzzer(argc, argv) { data, size in dkimCanonicalizationFuzz(data, size) }
}
