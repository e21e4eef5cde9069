import IDNA
import Sockets

/// An email address as it goes between `<` and `>` in `MAIL FROM` and `RCPT TO`
/// (RFC 5321 §4.1.2), validated at construction.
///
/// - The local part is a dot-atom (`first.last`) or a quoted string (`"a b"`), kept
///   verbatim, case preserved. UTF-8 in it is allowed (RFC 6531) and sets
///   ``requiresSMTPUTF8``.
/// - The domain is a host name, converted to lower-case A-labels (`bücher.example` →
///   `xn--bcher-kva.example`), or an address literal `[192.0.2.1]` / `[IPv6:2001:db8::1]`.
/// - Limits: local part 64 bytes, domain 255, whole address 254.
/// - CR, LF and NUL are refused anywhere, so no value of this type can smuggle a command.
///
/// ```swift
/// let address = try EmailAddress("Jane.Doe@Bücher.example")
/// address.description          // "Jane.Doe@xn--bcher-kva.example"
/// try EmailAddress("a@b.com\r\nRCPT TO:<x>")   // throws .forbiddenCharacter
/// ```
public struct EmailAddress: Sendable, Hashable, CustomStringConvertible {
    /// The longest local part, in bytes.
    public static let maxLocalPartLength = 64
    /// The longest domain, in bytes.
    public static let maxDomainLength = 255
    /// The longest whole address, in bytes.
    public static let maxLength = 254

    /// The local part as sent: a dot-atom, or a quoted string with its quotes. Read-only,
    /// so a validated address stays valid.
    public private(set) var localPart: String
    /// The domain in A-label form, lower-case, or an address literal such as `[192.0.2.1]`.
    public private(set) var domain: String
    /// `true` when the local part holds UTF-8: the server must offer SMTPUTF8.
    public private(set) var requiresSMTPUTF8: Bool
    /// The address of an address-literal domain (`[192.0.2.1]`), as parsed here: an
    /// attempt dials it without parsing the text again. `nil` for a host name.
    package private(set) var literalAddress: IPAddress?

    /// `local@domain`, as it goes between `<` and `>`.
    public var description: String { String(concatenating: localPart, "@", domain) }

    /// Parses and validates `text`.
    /// - Throws: ``EmailAddressError`` saying what is wrong.
    public init(_ text: String) throws(EmailAddressError) {
        let bytes = Array(text.utf8)
        if bytes.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
            throw EmailAddressError(.forbiddenCharacter, "the address contains a CR, LF or NUL character")
        }
        guard let at = bytes.lastIndex(of: UInt8(ascii: "@")), at > 0, at < bytes.count - 1 else {
            throw EmailAddressError(.missingAt, "'\(printable(text))' is not an address of the form local@domain")
        }
        let local = Array(bytes[..<at])
        let domainText = String(decoding: bytes[(at + 1)...], as: UTF8.self)
        guard local.count <= Self.maxLocalPartLength else {
            throw EmailAddressError(.localPartTooLong, "the local part of '\(printable(text))' is longer than 64 bytes")
        }
        try Self.validateLocalPart(local, text)
        let (domain, literalAddress) = try Self.validateDomainOrLiteral(domainText, allowLiteral: true)
        let total = local.count + 1 + domain.utf8.count
        guard total <= Self.maxLength else {
            throw EmailAddressError(.addressTooLong, "'\(printable(text))' is longer than 254 bytes")
        }
        self.localPart = String(decoding: local, as: UTF8.self)
        self.domain = domain
        self.requiresSMTPUTF8 = local.contains { $0 >= 0x80 }
        self.literalAddress = literalAddress
    }

    /// RFC 5321 `atext`, plus UTF-8 (RFC 6531).
    static func isAtext(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"): return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "/"),
             UInt8(ascii: "="), UInt8(ascii: "?"), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"),
             UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: "}"), UInt8(ascii: "~"): return true
        default: return byte >= 0x80
        }
    }

    private static func validateLocalPart(_ local: [UInt8], _ text: String) throws(EmailAddressError) {
        if String(validating: local, as: UTF8.self) == nil {
            throw EmailAddressError(.invalidLocalPart, "the local part is not valid UTF-8")
        }
        if local.first == UInt8(ascii: "\"") {
            // Quoted-string: DQUOTE *(qtextSMTP / quoted-pairSMTP) DQUOTE.
            guard local.count >= 2, local.last == UInt8(ascii: "\"") else {
                throw EmailAddressError(.invalidLocalPart, "the quoted local part of '\(printable(text))' is not closed")
            }
            var index = 1
            while index < local.count - 1 {
                let byte = local[index]
                if byte == UInt8(ascii: "\\") {
                    guard index + 1 < local.count - 1, (32...126).contains(local[index + 1]) else {
                        throw EmailAddressError(.invalidLocalPart, "the quoted local part of '\(printable(text))' has a bad escape")
                    }
                    index += 2
                    continue
                }
                guard byte >= 0x80 || (32...126).contains(byte), byte != UInt8(ascii: "\"") else {
                    throw EmailAddressError(.invalidLocalPart, "the quoted local part of '\(printable(text))' has a character it may not hold")
                }
                index += 1
            }
            return
        }
        // Dot-string: Atom *("." Atom).
        var previousDot = true
        for byte in local {
            if byte == UInt8(ascii: ".") {
                guard !previousDot else {
                    throw EmailAddressError(.invalidLocalPart, "the local part of '\(printable(text))' has a misplaced dot")
                }
                previousDot = true
            } else if isAtext(byte) {
                previousDot = false
            } else {
                throw EmailAddressError(.invalidLocalPart, "the local part of '\(printable(text))' has a character that needs quoting")
            }
        }
        guard !previousDot else {
            throw EmailAddressError(.invalidLocalPart, "the local part of '\(printable(text))' ends with a dot")
        }
    }

    /// Validates a domain (or, with `allowLiteral`, an address literal) and returns the
    /// form to send: lower-case A-labels, or the literal in canonical text.
    static func validateDomain(_ text: String, allowLiteral: Bool) throws(EmailAddressError) -> String {
        try validateDomainOrLiteral(text, allowLiteral: allowLiteral).0
    }

    /// ``validateDomain(_:allowLiteral:)``, with the address of a literal.
    private static func validateDomainOrLiteral(_ text: String, allowLiteral: Bool) throws(EmailAddressError)
        -> (String, IPAddress?)
    {
        if text.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
            throw EmailAddressError(.forbiddenCharacter, "the name contains a CR, LF or NUL character")
        }
        if text.hasPrefix("[") {
            guard allowLiteral, text.hasSuffix("]"), text.utf8.count > 2 else {
                throw EmailAddressError(.invalidAddressLiteral, "'\(printable(text))' is not an address literal")
            }
            // The brackets are one byte each (the Character tests above say so).
            let inner = String(decoding: text.utf8.dropFirst().dropLast(), as: UTF8.self)
            // The byte test first: the Character test below can only pass when it does,
            // and an IPv4 literal then skips the Character work.
            if inner.utf8.count > 5, inner.utf8.prefix(5).elementsEqual("ipv6:".utf8, by: { $0 | 0x20 == $1 }),
               inner.prefix(5).lowercased() == "ipv6:" {
                let ip = String(inner.dropFirst(5))
                // A byte test for ":" (IPAddress refuses any non-ASCII text anyway).
                guard ip.utf8.contains(UInt8(ascii: ":")), let address = IPAddress(ip), address.isIPv6 else {
                    throw EmailAddressError(.invalidAddressLiteral, "'\(printable(text))' is not a valid IPv6 address literal")
                }
                return ("[IPv6:\(address)]", address)
            }
            guard !inner.utf8.contains(UInt8(ascii: ":")), let address = IPAddress(inner), !address.isIPv6 else {
                throw EmailAddressError(.invalidAddressLiteral, "'\(printable(text))' is not a valid IPv4 address literal")
            }
            return ("[\(address)]", address)
        }
        let ascii: String
        do {
            ascii = try IDNA.toASCII(text)
        } catch {
            switch error.code {
            case .nameTooLong:
                throw EmailAddressError(.domainTooLong, "the domain '\(printable(text))' is too long: \(error.message)")
            default:
                throw EmailAddressError(.invalidDomain, "the domain '\(printable(text))' is not valid: \(error.message)")
            }
        }
        // RFC 5321 host names: letters, digits and hyphens only, no trailing dot.
        guard !ascii.hasSuffix("."), !ascii.utf8.contains(UInt8(ascii: "_")) else {
            throw EmailAddressError(.invalidDomain, "the domain '\(printable(text))' is not a valid host name")
        }
        guard ascii.utf8.count <= maxDomainLength else {
            throw EmailAddressError(.domainTooLong, "the domain '\(printable(text))' is longer than 255 bytes")
        }
        return (ascii, nil)
    }
}
