import Sockets

/// A bounds-checked cursor over a message, for one decode. Everything is read through
/// `raw`, which the caller keeps alive for the duration.
struct DNSWireReader {
    let raw: UnsafeRawBufferPointer
    var offset = 0

    init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }

    @inline(__always)
    mutating func u8() throws(DNSWireError) -> UInt8 {
        guard offset < raw.count else { throw truncated("a byte") }
        defer { offset += 1 }
        return raw[offset]
    }

    @inline(__always)
    mutating func u16() throws(DNSWireError) -> UInt16 {
        guard offset + 2 <= raw.count else { throw truncated("a 16-bit field") }
        defer { offset += 2 }
        return UInt16(raw[offset]) << 8 | UInt16(raw[offset + 1])
    }

    @inline(__always)
    mutating func u32() throws(DNSWireError) -> UInt32 {
        guard offset + 4 <= raw.count else { throw truncated("a 32-bit field") }
        defer { offset += 4 }
        let high = UInt32(raw[offset]) << 24 | UInt32(raw[offset + 1]) << 16
        return high | UInt32(raw[offset + 2]) << 8 | UInt32(raw[offset + 3])
    }

    func truncated(_ what: String) -> DNSWireError {
        DNSWireError(.truncated, at: offset, "the message ends in the middle of \(what)")
    }

    mutating func header() throws(DNSWireError) -> DNSHeader {
        guard raw.count >= 12 else {
            throw DNSWireError(
                .truncatedHeader, at: raw.count,
                "\(raw.count) bytes is shorter than a DNS header (12)")
        }
        return DNSHeader(
            id: try u16(), flags: try u16(), questionCount: try u16(), answerCount: try u16(),
            authorityCount: try u16(), additionalCount: try u16())
    }

    mutating func message() throws(DNSWireError) -> DNSMessage {
        let header = try header()
        // Each question takes at least 5 bytes and each record 11: refuse counts the
        // remaining bytes cannot hold before reserving anything.
        let remaining = raw.count - offset
        let minimum =
            Int(header.questionCount) * 5
            + (Int(header.answerCount) + Int(header.authorityCount) + Int(header.additionalCount))
            * 11
        guard minimum <= remaining else {
            throw DNSWireError(
                .truncated, at: offset,
                "the counts announce more questions and records than \(remaining) bytes can hold")
        }
        var questions: [DNSQuestion] = []
        questions.reserveCapacity(Int(header.questionCount))
        for _ in 0..<header.questionCount {
            let name = try readName()
            let type = DNSRecordType(rawValue: try u16())
            let recordClass = DNSClass(rawValue: try u16())
            questions.append(DNSQuestion(name: name, type: type, recordClass: recordClass))
        }
        let answers = try records(header.answerCount)
        let authorities = try records(header.authorityCount)
        let additionals = try records(header.additionalCount)
        guard offset == raw.count else {
            throw DNSWireError(
                .trailingBytes, at: offset, "\(raw.count - offset) bytes follow the last record")
        }
        return DNSMessage(
            header: header, questions: questions, answers: answers, authorities: authorities,
            additionals: additionals)
    }

    mutating func records(_ count: UInt16) throws(DNSWireError) -> [DNSRecord] {
        guard count > 0 else { return [] }
        var records: [DNSRecord] = []
        records.reserveCapacity(Int(count))
        for _ in 0..<count { records.append(try record()) }
        return records
    }

    mutating func record() throws(DNSWireError) -> DNSRecord {
        let name = try readName()
        let type = DNSRecordType(rawValue: try u16())
        let recordClass = DNSClass(rawValue: try u16())
        var ttl = try u32()
        // RFC 2181 §8; OPT's field is no TTL but the extended RCODE and flags (RFC 6891).
        if ttl & 0x8000_0000 != 0, type != .opt { ttl = 0 }
        let length = Int(try u16())
        let start = offset
        let end = start + length
        guard end <= raw.count else {
            throw DNSWireError(
                .truncated, at: start, "RDLENGTH \(length) reaches past the end of the message")
        }
        let data: DNSRecordData
        switch type {
        case .a:
            guard length == 4 else {
                throw badRDATA(start, "an A record has 4 bytes of RDATA, not \(length)")
            }
            data = .a(IPAddress(bytes: Array(raw[start..<end]))!)
            offset = end
        case .aaaa:
            guard length == 16 else {
                throw badRDATA(start, "an AAAA record has 16 bytes of RDATA, not \(length)")
            }
            data = .aaaa(IPAddress(bytes: Array(raw[start..<end]))!)
            offset = end
        case .mx:
            guard length >= 3 else {
                throw badRDATA(
                    start, "an MX record needs a preference and a target (RDLENGTH \(length))")
            }
            let preference = try u16()
            data = .mx(preference: preference, exchange: try readName())
        case .cname:
            data = .cname(try readName())
        case .ns:
            data = .ns(try readName())
        case .ptr:
            data = .ptr(try readName())
        case .txt:
            var strings: [[UInt8]] = []
            var cursor = start
            while cursor < end {
                let count = Int(raw[cursor])
                guard cursor + 1 + count <= end else {
                    throw badRDATA(cursor, "a TXT string of \(count) bytes reaches past RDLENGTH")
                }
                strings.append(Array(raw[(cursor + 1)..<(cursor + 1 + count)]))
                cursor += 1 + count
            }
            data = .txt(strings)
            offset = end
        case .soa:
            let primary = try readName()
            let mailbox = try readName()
            guard offset + 20 <= end else {
                throw badRDATA(start, "an SOA record's RDATA is too short")
            }
            data = .soa(
                DNSSOA(
                    primary: primary, mailbox: mailbox, serial: try u32(), refresh: try u32(),
                    retry: try u32(), expire: try u32(), minimum: try u32()))
        default:
            data = .unknown(Array(raw[start..<end]))
            offset = end
        }
        guard offset == end else {
            throw badRDATA(
                start, "the \(type) RDATA is \(offset - start) bytes but RDLENGTH says \(length)")
        }
        return DNSRecord(name: name, type: type, recordClass: recordClass, ttl: ttl, data: data)
    }

    func badRDATA(_ at: Int, _ message: String) -> DNSWireError {
        DNSWireError(.badRDATA, at: at, message)
    }

    /// Reads a possibly compressed name at `offset`, leaving `offset` after its in-place
    /// part. Pointers must point strictly before every byte of the name read so far,
    /// never into the header and never at another pointer, so decoding always ends.
    mutating func readName() throws(DNSWireError) -> DNSName {
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) {
            buffer throws(DNSWireError) in
            var count = 0
            var position = offset
            var lowest = offset
            var jumped = false
            let size = raw.count
            while true {
                guard position < size else {
                    offset = position
                    throw truncated("a name")
                }
                let length = Int(raw[position])
                if length == 0 {
                    if !jumped { offset = position + 1 }
                    return DNSName(uncheckedLabels: Array(buffer[0..<count]))
                }
                switch length & 0xC0 {
                case 0x00:
                    guard count + 1 + length + 1 <= 255 else {
                        throw DNSWireError(
                            .nameTooLong, at: position, "a name is longer than 255 bytes")
                    }
                    guard position + 1 + length <= size else {
                        offset = position
                        throw truncated("a label")
                    }
                    buffer[count] = UInt8(length)
                    count += 1
                    for index in (position + 1)..<(position + 1 + length) {
                        buffer[count] = lowercased(raw[index])
                        count += 1
                    }
                    position += 1 + length
                case 0xC0:
                    guard position + 1 < size else {
                        offset = position
                        throw truncated("a compression pointer")
                    }
                    let target = (length & 0x3F) << 8 | Int(raw[position + 1])
                    if !jumped {
                        offset = position + 2
                        jumped = true
                    }
                    if target < 12 {
                        throw DNSWireError(
                            .pointerIntoHeader, at: position,
                            "a compression pointer points into the header (\(target))")
                    }
                    if target > position {
                        throw DNSWireError(
                            .forwardPointer, at: position,
                            "a compression pointer points forwards (to \(target))")
                    }
                    if target >= lowest {
                        throw DNSWireError(
                            .pointerLoop, at: position,
                            "a compression pointer loops back into its own name (to \(target))")
                    }
                    if raw[target] & 0xC0 == 0xC0 {
                        throw DNSWireError(
                            .pointerToPointer, at: position,
                            "a compression pointer points at another pointer (at \(target))")
                    }
                    lowest = target
                    position = target
                default:
                    throw DNSWireError(
                        .labelTooLong, at: position,
                        "length byte \(length) is neither a label (at most 63) nor a pointer")
                }
            }
        }
    }
}
