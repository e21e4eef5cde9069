import FuzzDriver
import SMTPClient

/// A hostile server's bytes: the first byte picks how they are cut into reads (so replies
/// split anywhere are tried), the rest is fed to the reply parser, and every reply it
/// gives drives the client state machine through a whole send (EHLO, MAIL, RCPT, DATA).
/// Nothing may trap; the parser, once failed, stays failed; the machine never asks for
/// more than one transaction's worth of commands.
@_cdecl("LLVMFuzzerTestOneInput")
public func smtpReplyFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    guard let first = input.first else { return 0 }
    let chunk = Int(first % 64) + 1
    let bytes = input.dropFirst()
    var parser = SMTPReplyParser()
    var machine = SMTPClientStateMachine(heloName: "client.test")
    var action = machine.connected()
    var started = false
    var actions = 0
    var failed = false
    var offset = bytes.startIndex
    while offset < bytes.endIndex {
        let end = min(offset + chunk, bytes.endIndex)
        parser.feed(bytes[offset..<end])
        offset = end
        while true {
            let reply: SMTPReply?
            do {
                reply = try parser.next()
                if failed { fatalError("the parser gave a reply after failing") }
            } catch {
                failed = true
                break
            }
            guard let reply else { break }
            actions += 1
            if actions > 10_000 { fatalError("the machine never finishes") }
            action = machine.receive(reply)
            switch action {
            case .finish: return 0
            case .ready:
                if started { fatalError("ready again after the transaction started") }
                started = true
                action = machine.startTransaction(from: sender, to: recipient, data: message)
            default: break
            }
        }
    }
    return 0
}

private let sender = try! EmailAddress("app@sender.test")
private let recipient = try! EmailAddress("jane@example.test")
private let message = Message(from: sender, to: recipient, subject: "s", text: "t").encoded()

@_cdecl("SMTPReplyFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?)
    -> CInt
{
    runFuzzer(argc, argv) { data, size in smtpReplyFuzz(data, size) }
}
