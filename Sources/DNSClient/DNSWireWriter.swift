/// Builds a message's wire form, compressing names against earlier ones.
struct DNSWireWriter {
    var bytes: [UInt8] = []
    /// Offsets of name suffixes already written, keyed by their labels.
    private var suffixes: [ArraySlice<UInt8>: Int] = [:]

    /// Whether names are compressed (a query's single name gains nothing from it).
    let compress: Bool

    init(compress: Bool = true, capacity: Int = 512) {
        self.compress = compress
        bytes.reserveCapacity(capacity)
    }

    mutating func write(_ message: DNSMessage) {
        var header = message.header
        header.questionCount = UInt16(clamping: message.questions.count)
        header.answerCount = UInt16(clamping: message.answers.count)
        header.authorityCount = UInt16(clamping: message.authorities.count)
        header.additionalCount = UInt16(clamping: message.additionals.count)
        u16(header.id)
        u16(header.flags)
        u16(header.questionCount)
        u16(header.answerCount)
        u16(header.authorityCount)
        u16(header.additionalCount)
        for question in message.questions {
            name(question.name)
            u16(question.type.rawValue)
            u16(question.recordClass.rawValue)
        }
        for record in message.answers { self.record(record) }
        for record in message.authorities { self.record(record) }
        for record in message.additionals { self.record(record) }
    }

    mutating func u16(_ value: UInt16) {
        bytes.append(UInt8(value >> 8))
        bytes.append(UInt8(value & 0xFF))
    }

    mutating func u32(_ value: UInt32) {
        u16(UInt16(value >> 16))
        u16(UInt16(value & 0xFFFF))
    }

    mutating func name(_ name: DNSName) {
        let labels = name.labels
        guard compress else {
            bytes.append(contentsOf: labels)
            bytes.append(0)
            return
        }
        var index = 0
        while index < labels.count {
            let suffix = labels[index...]
            if let earlier = suffixes[suffix] {
                u16(0xC000 | UInt16(earlier))
                return
            }
            if bytes.count < 0x3FFF { suffixes[suffix] = bytes.count }
            let length = Int(labels[index])
            bytes.append(contentsOf: labels[index...(index + length)])
            index += 1 + length
        }
        bytes.append(0)
    }

    mutating func record(_ record: DNSRecord) {
        name(record.name)
        u16(record.type.rawValue)
        u16(record.recordClass.rawValue)
        u32(record.ttl)
        let lengthAt = bytes.count
        u16(0)
        let start = bytes.count
        switch record.data {
        case .a(let address), .aaaa(let address):
            bytes.append(contentsOf: address.bytes)
        case .mx(let preference, let exchange):
            u16(preference)
            name(exchange)
        case .txt(let strings):
            for string in strings {
                let chunk = string.prefix(255)
                bytes.append(UInt8(chunk.count))
                bytes.append(contentsOf: chunk)
            }
        case .cname(let target), .ns(let target), .ptr(let target):
            name(target)
        case .soa(let soa):
            name(soa.primary)
            name(soa.mailbox)
            u32(soa.serial)
            u32(soa.refresh)
            u32(soa.retry)
            u32(soa.expire)
            u32(soa.minimum)
        case .unknown(let raw):
            bytes.append(contentsOf: raw)
        }
        let length = UInt16(clamping: bytes.count - start)
        bytes[lengthAt] = UInt8(length >> 8)
        bytes[lengthAt + 1] = UInt8(length & 0xFF)
    }
}
