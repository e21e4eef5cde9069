/// The extensions a server announced in its EHLO reply (RFC 5321 §4.1.1.1).
///
/// Made from the reply, it keeps the reply and answers from its lines: a session asks
/// two or three questions (``pipelining``, ``startTLS``, ``size``), each a scan of the
/// lines in place, and never needs the whole table, whose Strings, arrays and hashing
/// cost more than all of them together. ``keywords`` makes that table on each read.
public struct SMTPCapabilities: Sendable, Hashable {
    /// Every keyword, upper-cased, with its parameters (as sent). Setting it replaces
    /// what the reply said.
    public var keywords: [String: [String]] {
        get { announced.map(Self.keywords(in:)) ?? assigned }
        set {
            assigned = newValue
            announced = nil
        }
    }

    /// The EHLO reply the capabilities come from, until ``keywords`` is set.
    private var announced: SMTPReply?
    private var assigned: [String: [String]] = [:]

    /// The server announced nothing (HELO, or before EHLO).
    public init() {}

    /// The capabilities in the lines after the first of a 2xx EHLO reply.
    public init(ehloReply: SMTPReply) {
        announced = ehloReply
    }

    /// Equal when the keywords and their parameters are.
    public static func == (lhs: SMTPCapabilities, rhs: SMTPCapabilities) -> Bool {
        lhs.keywords == rhs.keywords
    }

    /// Hashes the keywords and their parameters.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(keywords)
    }

    /// Parses the lines after the first of an EHLO reply into the keyword table.
    private static func keywords(in ehloReply: SMTPReply) -> [String: [String]] {
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
        return keywords
    }

    /// The parameters of `keyword` (upper-case ASCII; not AUTH, which "AUTH=" lines add
    /// to), or `nil` when it was not announced. From the reply, the lines are scanned in
    /// place and only a matching line's parameters become Strings; a line with a
    /// non-ASCII byte sends the question to the whole table, whose Character rules
    /// such a line needs (`ſize` upper-cases to `SIZE`).
    private func parameters(of keyword: StaticString) -> [String]? {
        guard let announced else { return assigned[keyword.description] }
        let wanted = UnsafeBufferPointer(start: keyword.utf8Start, count: keyword.utf8CodeUnitCount)
        var found: [String]?
        var needsTable = false
        var isGreeting = true
        announced.forEachLine { line in
            if isGreeting || needsTable {
                isGreeting = false
                return
            }
            guard line.allSatisfy({ $0 < 0x80 }) else {
                needsTable = true
                return
            }
            guard let start = line.firstIndex(where: { $0 != 0x20 }) else { return }
            let end = line[start...].firstIndex(of: 0x20) ?? line.count
            guard end - start == wanted.count,
                  line[start..<end].elementsEqual(wanted, by: { Self.uppercased($0) == $1 }) else { return }
            // The last line for a keyword wins, as in the table.
            found = line[end...].split(separator: 0x20).map { String(decoding: $0, as: UTF8.self) }
        }
        return needsTable ? keywords[keyword.description] : found
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
    public var pipelining: Bool { parameters(of: "PIPELINING") != nil }
    /// RFC 6152.
    public var eightBitMIME: Bool { parameters(of: "8BITMIME") != nil }
    /// RFC 6531.
    public var smtpUTF8: Bool { parameters(of: "SMTPUTF8") != nil }
    /// RFC 3207.
    public var startTLS: Bool { parameters(of: "STARTTLS") != nil }
    /// RFC 2034.
    public var enhancedStatusCodes: Bool { parameters(of: "ENHANCEDSTATUSCODES") != nil }
    /// RFC 1870: the announced maximum size; 0 means no fixed limit; `nil` when not offered.
    public var size: Int? {
        guard let parameters = parameters(of: "SIZE") else { return nil }
        return parameters.first.flatMap { Int($0) } ?? 0
    }
    /// RFC 4954 mechanisms, upper-cased.
    public var authMechanisms: Set<String> {
        Set((keywords["AUTH"] ?? []).map { $0.uppercased() })
    }
}
