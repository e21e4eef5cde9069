import SMTPClient

#if canImport(Glibc)
    import Glibc
#endif

/// Signs messages with one key under one selector (RFC 6376, relaxed/relaxed; `rsa-sha256`
/// or `ed25519-sha256` per RFC 8463). Give several signers to sign with several keys; the
/// usual pair is RSA plus Ed25519, since not every receiver checks Ed25519.
///
/// It signs the bytes exactly as they will be sent (line ends made CRLF and over-long
/// lines broken, as the SMTP client does when it streams DATA), before dot-stuffing; the
/// signed `MessageData` carries those bytes, so what is stored in a queue and sent again
/// later keeps its signature and is never signed twice. No `l=` is ever written; From is
/// signed one more time than it occurs, so a From added on the way breaks the signature.
///
/// ```swift
/// let rsa = try DKIMSigner(key: DKIMPrivateKey(contentsOf: "rsa.pem"), selector: "2026r")
/// let ed = try DKIMSigner(key: DKIMPrivateKey(contentsOf: "ed.pem"), selector: "2026e")
/// let signed = try DKIMSigner.sign(message.encoded(), with: [rsa, ed])
/// ```
public struct DKIMSigner: Sendable {
    /// The header fields signed when present (each instance), in this order; `from` once
    /// more at the end.
    public static let signedHeaderNames = [
        "from", "to", "cc", "subject", "date", "message-id", "mime-version", "content-type",
        "content-transfer-encoding", "reply-to", "in-reply-to", "references",
    ]

    /// The private key.
    public let key: DKIMPrivateKey
    /// The selector (`s=`): the key record lives at `selector._domainkey.domain`.
    public let selector: String
    /// The signing domain (`d=`), lower-case; `nil` takes the From header's domain.
    public let domain: String?

    /// A signer; `domain` defaults to each message's From domain.
    /// - Throws: ``DKIMError`` `invalid-name` for a selector or domain that is not an
    ///   ASCII DNS name (give an IDN domain in its `xn--` form).
    public init(key: DKIMPrivateKey, selector: String, domain: String? = nil) throws(DKIMError) {
        guard Self.isDNSName(selector) else {
            throw DKIMError(.invalidName, "the DKIM selector '\(selector)' is not a DNS name")
        }
        if let domain {
            guard Self.isDNSName(domain) else {
                throw DKIMError(
                    .invalidName,
                    "the DKIM domain '\(domain)' is not an ASCII DNS name (IDN domains in xn-- form)")
            }
        }
        self.key = key
        self.selector = selector
        self.domain = domain.map { $0.lowercased() }
    }

    /// Signs `data` with every signer in `signers` (none: `data` unchanged). The result's
    /// bytes are the signature fields followed by the message exactly as it will be sent.
    /// - Parameter time: `t=`, seconds since 1970; default now.
    /// - Throws: ``DKIMError`` `no-from` when the message has no From (or no domain in it
    ///   and the signer names none), `signing-failed` when libcrypto fails.
    public static func sign(_ data: MessageData, with signers: [DKIMSigner], time: Int64? = nil)
        throws(DKIMError) -> MessageData
    {
        guard !signers.isEmpty else { return data }
        let message = data.transmittedBytes()
        let parts = DKIMMessageParts(message)
        let bodyHash = try DKIMDigest.sha256(DKIMCanonicalization.relaxedBody(parts.body))
        let now = time ?? Int64(Glibc.time(nil))
        var fields: [UInt8] = []
        for signer in signers {
            fields += try signer.signatureField(parts, bodyHash: bodyHash, time: now)
        }
        var signed = data
        signed.bytes = fields + message
        return signed
    }

    /// The `DKIM-Signature` field for `parts`, with its final CRLF.
    func signatureField(_ parts: DKIMMessageParts, bodyHash: [UInt8], time: Int64)
        throws(DKIMError) -> [UInt8]
    {
        guard parts.fields.contains(where: { $0.name == "from" }) else {
            throw DKIMError(.noFrom, "the message has no From header to sign")
        }
        guard let domain = domain ?? Self.fromDomain(parts) else {
            throw DKIMError(
                .noFrom, "the From header has no domain to sign for; give the signing domain")
        }
        var names: [String] = []
        for name in Self.signedHeaderNames {
            let count = parts.fields.count { $0.name == name }
            names += Array(repeating: name, count: count)
        }
        names.append("from")
        let template = Self.template(
            algorithm: key.algorithm, domain: domain, selector: selector, time: time,
            names: names, bodyHash: Base64Text.encode(bodyHash))
        let input = Self.headerHashInput(parts.select(names), signatureTemplate: template)
        let signature = try key.sign(input)
        return template + Self.folded(Base64Text.encode(signature), column: 3) + [0x0D, 0x0A]
    }

    /// What is hashed for `b=` (RFC 6376 §3.7): each signed field relaxed with CRLF, then
    /// the DKIM-Signature field with an empty `b=`, relaxed, without CRLF.
    static func headerHashInput(
        _ fields: [DKIMMessageParts.Field], signatureTemplate: [UInt8]
    ) -> [UInt8] {
        var input: [UInt8] = []
        for field in fields {
            input += DKIMCanonicalization.relaxedHeader(field.raw)
            input += [0x0D, 0x0A]
        }
        input += DKIMCanonicalization.relaxedHeader(signatureTemplate)
        return input
    }

    /// The field up to and including `b=`, folded below 78 columns.
    static func template(
        algorithm: DKIMPrivateKey.Algorithm, domain: String, selector: String, time: Int64,
        names: [String], bodyHash: String
    ) -> [UInt8] {
        var text = "DKIM-Signature: v=1; a=\(algorithm.rawValue); c=relaxed/relaxed;\r\n"
        text += "\td=\(domain); s=\(selector); t=\(time);\r\n"
        var line = "\th="
        for (index, name) in names.enumerated() {
            let piece = name + (index == names.count - 1 ? ";" : ":")
            if line.utf8.count + piece.utf8.count > 76 {
                text += line + "\r\n"
                line = "\t "
            }
            line += piece
        }
        text += line + "\r\n\tbh=\(bodyHash);\r\n\tb="
        return Array(text.utf8)
    }

    /// `value` split over lines of at most 76 columns, continuation lines starting with
    /// a tab (white space inside `b=` is ignored by verifiers, RFC 6376 §3.5).
    static func folded(_ value: String, column: Int) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(value.utf8.count + value.utf8.count / 24)
        var used = column
        for byte in Array(value.utf8) {
            if used >= 76 {
                output += [0x0D, 0x0A, 0x09]
                used = 8
            }
            output.append(byte)
            used += 1
        }
        return output
    }

    /// The domain of the first From header's address, lower-case.
    static func fromDomain(_ parts: DKIMMessageParts) -> String? {
        guard let from = parts.fields.first(where: { $0.name == "from" }) else { return nil }
        var value = String(decoding: from.raw, as: UTF8.self)
        if let open = value.lastIndex(of: "<"), let close = value.lastIndex(of: ">"), open < close {
            value = String(value[value.index(after: open)..<close])
        }
        guard let at = value.lastIndex(of: "@") else { return nil }
        let domain = value[value.index(after: at)...].filter { !" \t\r\n>".contains($0) }
            .lowercased()
        return isDNSName(domain) ? domain : nil
    }

    /// ASCII letters, digits, hyphens and underscores in dot-separated labels of 1 to 63.
    static func isDNSName(_ name: String) -> Bool {
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        return labels.allSatisfy { label in
            (1...63).contains(label.utf8.count)
                && label.utf8.allSatisfy { byte in
                    (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
                        || byte == 0x2D || byte == 0x5F
                }
        }
    }
}
