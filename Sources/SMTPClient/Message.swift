#if canImport(Glibc)
import Glibc
#endif

/// A simple message to compose: a verification email with a text body and an optional
/// HTML alternative.
///
/// ``encoded()`` gives RFC 5322 text with `Date`, `From`, `To`, `Subject`, `Message-ID`
/// and `MIME-Version`; non-ASCII header text as RFC 2047 encoded words; an ASCII body with
/// short lines as 7bit (unchanged but for CRLF line ends), a UTF-8 or long-lined body as
/// quoted-printable (or 8bit when ``allows8BitMIME`` is set, then
/// `MessageData/requires8BitMIME` is true); text plus HTML as multipart/alternative.
///
/// ```swift
/// let message = Message(from: try EmailAddress("noreply@app.example"),
///                       to: try EmailAddress("jane@example.com"),
///                       subject: "Your code: 123456",
///                       text: "Welcome! Your code is 123456.")
/// let data = message.encoded()
/// ```
public struct Message: Sendable {
    /// The author, in `From:`.
    public var from: EmailAddress
    /// The recipient, in `To:`.
    public var to: EmailAddress
    /// An optional display name for `From:` (`"Example App" <noreply@app.example>`).
    public var fromName: String?
    /// An optional display name for `To:`.
    public var toName: String?
    /// The subject; CR and LF in it become spaces.
    public var subject: String
    /// The plain-text body. Any line ends; they become CRLF.
    public var text: String
    /// An optional HTML alternative; with it the message is multipart/alternative.
    public var html: String?
    /// Seconds since 1970 for the `Date:` header; `nil` means now. Clamped to the years
    /// 1900 to 9999.
    public var date: Int64?
    /// The Message-ID with angle brackets; `nil` generates a random one at `from`'s domain
    /// (so does an ID that is not `left@right`, or longer than 900 bytes, which would not
    /// fit on a header line).
    public var messageID: String?
    /// Let UTF-8 bodies travel as 8bit (the server must offer 8BITMIME); otherwise
    /// quoted-printable is used and the message is 7-bit clean.
    public var allows8BitMIME: Bool

    /// A message from `from` to `to`; only the subject and text body are required.
    public init(
        from: EmailAddress, to: EmailAddress, subject: String, text: String, html: String? = nil,
        fromName: String? = nil, toName: String? = nil, date: Int64? = nil, messageID: String? = nil,
        allows8BitMIME: Bool = false
    ) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.fromName = fromName
        self.toName = toName
        self.date = date
        self.messageID = messageID
        self.allows8BitMIME = allows8BitMIME
    }

    /// Composes the message. Every line ends with CRLF; no line is longer than 998 bytes
    /// (bodies are re-encoded as quoted-printable when needed; headers are folded).
    public func encoded() -> MessageData {
        var output: [UInt8] = []
        output.reserveCapacity(512 + text.utf8.count * 2 + (html?.utf8.count ?? 0) * 2)
        // A msg-id cannot be folded: one too long for a 998-byte line is replaced.
        let id = messageID.flatMap(Self.sanitizedMessageID).flatMap { $0.utf8.count <= Self.maxMessageIDLength ? $0 : nil }
            ?? Self.generateMessageID(domain: from.domain)
        func header(_ name: String, _ value: String) {
            // Copied as contiguous bytes (appending a String's UTF-8 view goes through
            // the generic sequence path, ~180 instructions a piece).
            var name = name, value = value
            name.withUTF8 { output.append(contentsOf: $0) }
            output.append(UInt8(ascii: ":"))
            output.append(UInt8(ascii: " "))
            value.withUTF8 { output.append(contentsOf: $0) }
            output.append(contentsOf: MIMEEncoding.crlf)
        }
        header("Date", Self.rfc5322Date(date ?? Self.now()))
        header("From", Self.mailbox(from, name: fromName, nameLength: 4))
        header("To", Self.mailbox(to, name: toName, nameLength: 2))
        header("Subject", MIMEEncoding.headerValue(subject, nameLength: 7))
        header("Message-ID", id)
        header("MIME-Version", "1.0")

        // The bodies are read in place (withUTF8 copies nothing from a native string).
        var text = self.text
        let textEncoding = text.withUTF8 { MIMEEncoding.transferEncoding(for: $0, allow8Bit: allows8BitMIME) }
        var eightBit = textEncoding == .eightBit
        if var html {
            let htmlEncoding = html.withUTF8 { MIMEEncoding.transferEncoding(for: $0, allow8Bit: allows8BitMIME) }
            eightBit = eightBit || htmlEncoding == .eightBit
            let boundary = "=_directsmtp_" + Self.randomHex(12)
            header("Content-Type", "multipart/alternative; boundary=\"\(boundary)\"")
            // RFC 2045 §6.4: a multipart's encoding is the widest of its parts' (7bit or 8bit).
            header("Content-Transfer-Encoding", eightBit ? "8bit" : "7bit")
            output.append(contentsOf: MIMEEncoding.crlf)
            output.append(contentsOf: "This is a multipart message in MIME format.\r\n".utf8)
            func part(_ body: inout String, _ encoding: MIMEEncoding.TransferEncoding, _ type: String) {
                output.append(contentsOf: "\r\n--\(boundary)\r\n".utf8)
                header("Content-Type", "\(type); charset=\(encoding == .sevenBit ? "us-ascii" : "utf-8")")
                header("Content-Transfer-Encoding", encoding.rawValue)
                output.append(contentsOf: MIMEEncoding.crlf)
                body.withUTF8 { MIMEEncoding.appendBody($0, encoding, to: &output) }
            }
            part(&text, textEncoding, "text/plain")
            part(&html, htmlEncoding, "text/html")
            output.append(contentsOf: "\r\n--\(boundary)--\r\n".utf8)
        } else {
            header("Content-Type", "text/plain; charset=\(textEncoding == .sevenBit ? "us-ascii" : "utf-8")")
            header("Content-Transfer-Encoding", textEncoding.rawValue)
            output.append(contentsOf: MIMEEncoding.crlf)
            text.withUTF8 { MIMEEncoding.appendBody($0, textEncoding, to: &output) }
        }
        return MessageData(
            bytes: output, requires8BitMIME: eightBit,
            requiresSMTPUTF8: from.requiresSMTPUTF8 || to.requiresSMTPUTF8, messageID: id)
    }

    static func mailbox(_ address: EmailAddress, name: String?, nameLength: Int) -> String {
        guard let name, !name.isEmpty else { return String(concatenating: "<", address.localPart, "@", address.domain, ">") }
        let phrase = MIMEEncoding.displayName(name, nameLength: nameLength)
        // Lines with encoded words stay within 76 characters (RFC 2047 §2): fold before
        // the address when it would not fit after the last word.
        let lastLine = phrase.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).last?.count ?? 0
        let used = phrase.contains("\r\n") ? lastLine : nameLength + 2 + lastLine
        if phrase.contains("=?"), used + 2 + "\(address)".utf8.count + 1 > 76 {
            return "\(phrase)\r\n <\(address)>"
        }
        return "\(phrase) <\(address)>"
    }

    /// The longest caller-given Message-ID kept (RFC 5322 lines are at most 998 bytes).
    static let maxMessageIDLength = 900

    /// The caller's Message-ID as `<left@right>`: angle brackets added when missing,
    /// white space, control characters and stray `<`/`>` dropped; `nil` when what is
    /// left is not of the form `left@right` (then one is generated).
    static func sanitizedMessageID(_ id: String) -> String? {
        var kept = id.unicodeScalars.filter { $0.value > 0x20 && $0.value < 0x7F }
        if kept.first == "<" { kept.removeFirst() }
        if kept.last == ">" { kept.removeLast() }
        kept.removeAll { $0 == "<" || $0 == ">" }
        guard let at = kept.firstIndex(of: "@"), at != kept.startIndex, at != kept.index(before: kept.endIndex),
              kept.filter({ $0 == "@" }).count == 1 else { return nil }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: kept)
        return "<" + String(view) + ">"
    }

    static func generateMessageID(domain: String) -> String {
        String(concatenating: "<", randomHex(16), ".", String(now()), "@", domain, ">")
    }

    /// `count` random bytes as lower-case hex.
    static func randomHex(_ count: Int) -> String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { random in
            fillRandom(random)
            return String(unsafeUninitializedCapacity: 2 * count) { output in
                for (index, byte) in random.enumerated() {
                    output[2 * index] = hexDigit(byte >> 4)
                    output[2 * index + 1] = hexDigit(byte & 15)
                }
                return 2 * count
            }
        }
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }

    /// Fills `buffer` from the kernel's random source: one `getentropy` (a single
    /// `getrandom` system call for up to 256 bytes) rather than one per 8 bytes, as
    /// `SystemRandomNumberGenerator` draws them; that generator where `getentropy` fails.
    static func fillRandom(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        #if canImport(Glibc)
        if let base = buffer.baseAddress, buffer.count <= 256, getentropy(base, buffer.count) == 0 { return }
        #endif
        var generator = SystemRandomNumberGenerator()
        var word: UInt64 = 0
        for index in buffer.indices {
            if index % 8 == 0 { word = generator.next() }
            buffer[index] = UInt8(truncatingIfNeeded: word >> (8 * UInt64(index % 8)))
        }
    }

    static func now() -> Int64 { Int64(time(nil)) }

    /// `Sun, 29 Nov 2026 04:10:00 +0000` for a count of seconds since 1970 (UTC).
    /// A date outside years 1900 to 9999 (which RFC 5322 can write, and this arithmetic
    /// cannot overflow on) is clamped to the nearest end of that range.
    static func rfc5322Date(_ requested: Int64) -> String {
        let seconds = min(max(requested, -2_208_988_800), 253_402_300_799)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        let weekday = Int((days % 7 + 7 + 4) % 7)  // 1970-01-01 was a Thursday
        // Written byte by byte (at most 31): "Sun, 29 Nov 2026 04:10:00 +0000".
        return String(unsafeUninitializedCapacity: 31) { output in
            var count = 0
            func putByte(_ byte: UInt8) {
                output[count] = byte
                count += 1
            }
            func putName(_ text: StaticString, _ offset: Int, length: Int) {
                for index in offset..<(offset + length) { putByte(text.utf8Start[index]) }
            }
            func putNumber(_ value: Int64, digits: Int) {
                var divisor: Int64 = 1
                for _ in 1..<digits { divisor *= 10 }
                while divisor > 0 {
                    putByte(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                    divisor /= 10
                }
            }
            putName("SunMonTueWedThuFriSat", 3 * weekday, length: 3)
            putName(", ", 0, length: 2)
            putNumber(day, digits: day < 10 ? 1 : 2)
            putByte(UInt8(ascii: " "))
            putName("JanFebMarAprMayJunJulAugSepOctNovDec", 3 * (Int(month) - 1), length: 3)
            putByte(UInt8(ascii: " "))
            putNumber(year, digits: 4)  // 1900...9999, clamped above
            putByte(UInt8(ascii: " "))
            putNumber(secondOfDay / 3600, digits: 2)
            putByte(UInt8(ascii: ":"))
            putNumber(secondOfDay / 60 % 60, digits: 2)
            putByte(UInt8(ascii: ":"))
            putNumber(secondOfDay % 60, digits: 2)
            putName(" +0000", 0, length: 6)
            return count
        }
    }
}
