/// A composed message as it goes after DATA, before dot-stuffing: RFC 5322 text with CRLF
/// line ends, plus what the server must offer to take it.
///
/// ``SMTPSession`` normalises any stray CR or LF to CRLF, dot-stuffs and appends
/// `CRLF.CRLF` while streaming these bytes; they are not copied for that.
public struct MessageData: Sendable, Hashable {
    /// The RFC 5322 message: headers, blank line, body; CRLF line ends; not dot-stuffed.
    public var bytes: [UInt8]
    /// The body holds 8-bit data: MAIL FROM must carry `BODY=8BITMIME` and the server
    /// must offer 8BITMIME.
    public var requires8BitMIME: Bool
    /// Headers hold raw UTF-8 (RFC 6532): the server must offer SMTPUTF8.
    public var requiresSMTPUTF8: Bool
    /// The Message-ID, with its angle brackets (`<abc@example.com>`).
    public var messageID: String

    /// Wraps composed bytes (CRLF line ends expected; stray CR/LF are fixed when sent).
    public init(bytes: [UInt8], requires8BitMIME: Bool = false, requiresSMTPUTF8: Bool = false, messageID: String) {
        self.bytes = bytes
        self.requires8BitMIME = requires8BitMIME
        self.requiresSMTPUTF8 = requiresSMTPUTF8
        self.messageID = messageID
    }
}
