import SMTPClient

/// What ``MockSMTPServer`` answers at each step. Every property has a friendly default:
/// a server that offers PIPELINING, 8BITMIME, SMTPUTF8 and SIZE and accepts everything.
///
/// ```swift
/// var script = MockSMTPScript()
/// script.pipelining = false
/// script.recipients["nobody@example.com"] = .reply(550, "5.1.1 no such user")
/// script.greylisting = .milliseconds(200)      // 451 first, accepted on a retry 200 ms later
/// let server = try MockSMTPServer.start(script)
/// ```
public struct MockSMTPScript: Sendable {
    /// The banner (default `220 mock.test ESMTP`).
    public var greeting: MockSMTPResponse = .reply(220, "mock.test ESMTP DirectSMTPTesting")
    /// Whether EHLO announces PIPELINING.
    public var pipelining = true
    /// The other EHLO keywords announced.
    public var extensions: [String] = ["8BITMIME", "SMTPUTF8", "SIZE 10485760", "ENHANCEDSTATUSCODES"]
    /// Replaces the EHLO reply (e.g. `.reply(502, "5.5.1 unrecognized")` to force HELO).
    public var ehlo: MockSMTPResponse?
    /// The HELO reply.
    public var helo: MockSMTPResponse = .reply(250, "mock.test")
    /// When set, EHLO offers AUTH (``authMechanisms``) and these credentials are accepted (235);
    /// others get `535 5.7.8`.
    public var credentials: SMTPCredentials?
    /// The AUTH mechanisms announced when ``credentials`` is set (PLAIN and LOGIN are
    /// understood).
    public var authMechanisms: [String] = ["PLAIN", "LOGIN"]
    /// The MAIL reply.
    public var mail: MockSMTPResponse = .reply(250, "2.1.0 sender OK")
    /// The RCPT reply for recipients without an entry in ``recipients``.
    public var rcpt: MockSMTPResponse = .reply(250, "2.1.5 recipient OK")
    /// Per-recipient RCPT replies, keyed by the address as sent, lower-cased.
    public var recipients: [String: MockSMTPResponse] = [:]
    /// Answer DATA with ``data`` even when no recipient was accepted, as some broken
    /// servers do (RFC 2920 §3.1 warns clients about them). The message that follows is
    /// then refused with 554 at the final dot. Off by default (DATA gets 554 5.5.1).
    public var dataWithoutRecipients = false
    /// The reply to DATA (a 3xx makes the server read the message).
    public var data: MockSMTPResponse = .reply(354, "end data with <CR><LF>.<CR><LF>")
    /// The reply after the final dot; a 2xx here counts as a delivery.
    public var endOfData: MockSMTPResponse = .reply(250, "2.0.0 OK queued")
    /// The QUIT reply (the connection closes after it).
    public var quit: MockSMTPResponse = .reply(221, "2.0.0 bye")
    /// A pause before the greeting, before every batch of replies (the answers to one
    /// read) and before the TLS handshake: one simulated round trip, for counting how many
    /// times a client waits.
    public var replyDelay: Duration = .zero
    /// Greylisting: the first RCPT for a (sender, recipient) pair gets `451 4.7.1`, and so
    /// does every retry until this long after the first; later ones get ``rcpt``.
    public var greylisting: Duration?
    /// Keep every read's bytes in ``MockSMTPSessionRecord/reads`` (turn off in benchmarks).
    public var recordsReads = true
    /// How long a connection may stay idle before the server drops it.
    public var idleTimeout: Duration = .seconds(30)
    /// Whether EHLO announces STARTTLS (RFC 3207; not again over TLS). Off by default.
    /// Needs the `OpenSSL` trait: without it a 220 to STARTTLS is followed by a close.
    public var offersStartTLS = false
    /// The reply to STARTTLS: a 220 starts the handshake; `.reply(454, "4.7.0 TLS not
    /// available")` refuses it.
    public var startTLS: MockSMTPResponse = .reply(220, "2.0.0 ready to start TLS")
    /// Bytes written right after the 220 to STARTTLS, in the same write: a response
    /// injection attack (RFC 3207 §6).
    public var injectedAfterStartTLS: [UInt8] = []
    /// How the server behaves in the TLS handshake.
    public var tlsHandshake: MockTLSHandshake = .normal
    /// MAIL before STARTTLS gets `530 5.7.0 Must issue a STARTTLS command first`.
    public var requiresTLS = false
    /// Over TLS, once the first bytes of a message arrive: a fatal TLS alert, then a close.
    public var tlsAlertMidData = false
    /// TLS 1.3 session tickets issued per handshake (default 1): clients resume with
    /// them; 0 makes every handshake a full one.
    public var tlsSessionTickets = 1

    /// The default script: a friendly server that accepts everything.
    public init() {}

    /// The EHLO reply the script gives.
    /// - Parameter overTLS: `true` after STARTTLS (STARTTLS is not offered again).
    public func ehloResponse(heloName: String, overTLS: Bool = false) -> MockSMTPResponse {
        if let ehlo { return ehlo }
        var lines = ["mock.test greets \(heloName)"]
        if pipelining { lines.append("PIPELINING") }
        if offersStartTLS && !overTLS { lines.append("STARTTLS") }
        lines.append(contentsOf: extensions)
        if credentials != nil { lines.append((["AUTH"] + authMechanisms).joined(separator: " ")) }
        return MockSMTPResponse(code: 250, lines: lines)
    }
}

/// How ``MockSMTPServer`` behaves in the TLS handshake after its 220 to STARTTLS.
public enum MockTLSHandshake: Sendable, Hashable {
    /// A normal handshake with a self-signed certificate for `mock.test`.
    case normal
    /// Bytes that are not TLS in answer to the ClientHello, then a close.
    case fail
    /// Reads, never answers: a handshake that never finishes.
    case neverFinish
    /// Closes the connection right after the 220.
    case closeAfterReply
    /// A certificate carrying this many bytes of padding (e.g. 1 MB).
    case hugeCertificate(Int)
}
