/// The extensions a server announced in its EHLO reply (RFC 5321 §4.1.1.1).
public struct SMTPCapabilities: Sendable, Hashable {
    /// Every keyword, upper-cased, with its parameters (as sent).
    public var keywords: [String: [String]] = [:]

    /// The server announced nothing (HELO, or before EHLO).
    public init() {}

    /// Parses the lines after the first of a 2xx EHLO reply.
    public init(ehloReply: SMTPReply) {
        for line in ehloReply.lines.dropFirst() {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = parts.first else { continue }
            var keyword = String(first).uppercased()
            var parameters = parts.dropFirst().map(String.init)
            // The pre-standard "AUTH=LOGIN PLAIN" form.
            if keyword.hasPrefix("AUTH=") {
                parameters.insert(String(keyword.dropFirst(5)), at: 0)
                keyword = "AUTH"
                parameters = (keywords["AUTH"] ?? []) + parameters
            }
            keywords[keyword] = parameters
        }
    }

    /// RFC 2920.
    public var pipelining: Bool { keywords["PIPELINING"] != nil }
    /// RFC 6152.
    public var eightBitMIME: Bool { keywords["8BITMIME"] != nil }
    /// RFC 6531.
    public var smtpUTF8: Bool { keywords["SMTPUTF8"] != nil }
    /// RFC 3207.
    public var startTLS: Bool { keywords["STARTTLS"] != nil }
    /// RFC 2034.
    public var enhancedStatusCodes: Bool { keywords["ENHANCEDSTATUSCODES"] != nil }
    /// RFC 1870: the announced maximum size; 0 means no fixed limit; `nil` when not offered.
    public var size: Int? {
        guard let parameters = keywords["SIZE"] else { return nil }
        return parameters.first.flatMap { Int($0) } ?? 0
    }
    /// RFC 4954 mechanisms, upper-cased.
    public var authMechanisms: Set<String> {
        Set((keywords["AUTH"] ?? []).map { $0.uppercased() })
    }
}
