/// The extensions a server announced in its EHLO reply (RFC 5321 §4.1.1.1).
public struct SMTPCapabilities: Sendable, Hashable {
    /// Every keyword, upper-cased, with its parameters (as sent).
    public var keywords: [String: [String]] = [:]

    /// The server announced nothing (HELO, or before EHLO).
    public init() {}

    /// Parses the lines after the first of a 2xx EHLO reply.
    public init(ehloReply: SMTPReply) {
        // One keyword per line after the first: sized once, not regrown (each growth
        // hashes every keyword again).
        var keywords = [String: [String]](minimumCapacity: ehloReply.lineCount - 1)
        var isGreeting = true
        ehloReply.forEachLine { line in
            if isGreeting {
                isGreeting = false
                return
            }
            // ASCII lines (all, in practice) are split and upper-cased byte by byte; the
            // general path goes by Characters, as a space followed by a combining mark
            // is not a separator there.
            guard line.allSatisfy({ $0 < 0x80 }) else {
                let parts = String(decoding: line, as: UTF8.self).split(separator: " ", omittingEmptySubsequences: true)
                guard let first = parts.first else { return }
                let keyword = String(first).uppercased()
                Self.add(keyword, parts.dropFirst().map(String.init), isAuthEquals: keyword.hasPrefix("AUTH="), to: &keywords)
                return
            }
            var keyword: String?
            var isAuthEquals = false
            var parameters: [String] = []
            // One array of the right size (appending grows it one word at a time).
            let spaces = line.reduce(0) { $1 == 0x20 ? $0 + 1 : $0 }
            if spaces > 0 { parameters.reserveCapacity(spaces) }
            var wordStart = 0
            for index in 0...line.count where index == line.count || line[index] == 0x20 {
                defer { wordStart = index + 1 }
                guard index > wordStart else { continue }
                let word = UnsafeBufferPointer(rebasing: line[wordStart..<index])
                if keyword == nil {
                    isAuthEquals = word.count >= 5 && word.prefix(5).elementsEqual("AUTH=".utf8) { Self.uppercased($0) == $1 }
                    keyword = String(unsafeUninitializedCapacity: word.count) { output in
                        for (offset, byte) in word.enumerated() { output[offset] = Self.uppercased(byte) }
                        return word.count
                    }
                } else {
                    parameters.append(String(decoding: word, as: UTF8.self))
                }
            }
            if let keyword { Self.add(keyword, parameters, isAuthEquals: isAuthEquals, to: &keywords) }
        }
        self.keywords = keywords
    }

    private static func uppercased(_ byte: UInt8) -> UInt8 {
        (0x61...0x7A).contains(byte) ? byte - 0x20 : byte
    }

    /// Records one keyword (upper-cased) and its parameters; `isAuthEquals`: the keyword
    /// starts with "AUTH=".
    private static func add(
        _ keyword: String, _ parameters: [String], isAuthEquals: Bool, to keywords: inout [String: [String]]
    ) {
        var keyword = keyword
        var parameters = parameters
        // The pre-standard "AUTH=LOGIN PLAIN" form.
        if isAuthEquals {
            parameters.insert(String(keyword.dropFirst(5)), at: 0)
            keyword = "AUTH"
            parameters = (keywords["AUTH"] ?? []) + parameters
        }
        keywords[keyword] = parameters
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
