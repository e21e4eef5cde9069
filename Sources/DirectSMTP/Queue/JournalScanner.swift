/// Recovery as a pure function: reads a journal's bytes, replays every intact record, and
/// says where the damage is. Never traps on any input.
///
/// A record counts as intact when its magic, length and CRC-32C check out and its payload
/// decodes. After a bad spot the scanner resynchronises on the next magic number, so one
/// damaged record costs only itself. Replay is forgiving: an add or update of an id sets
/// it, a remove of an unknown id is ignored, so an update whose add was lost still keeps
/// its entry.
struct JournalScanner {
    /// The replayed entries.
    var entries: [String: QueueEntry] = [:]
    /// Offset just past the last intact record (or past the header); appends go here.
    var validEnd = 0
    /// What was found.
    var report: JournalRecoveryReport

    /// Scans a whole journal file.
    init(_ bytes: UnsafeRawBufferPointer) {
        report = JournalRecoveryReport(
            fileSize: bytes.count, recordCount: 0, entryCount: 0, headerDamaged: false,
            damagedRegions: [], tornTailBytes: 0, preservedCopyPath: nil)
        // A guess (records of about 1 KiB) that spares most rehashing of a large journal.
        entries.reserveCapacity(min(bytes.count / 1024, 1 << 20))
        let header = JournalRecord.fileHeader
        var position = 0
        var damageStart: Int?
        if bytes.count >= header.count && bytes.prefix(header.count).elementsEqual(header) {
            position = header.count
            validEnd = position
        } else if bytes.count > 0 {
            report.headerDamaged = true
            damageStart = 0
            position = 0
        }
        while position < bytes.count {
            if let length = recordLength(bytes, at: position) {
                if let start = damageStart {
                    report.damagedRegions.append(.init(offset: start, length: position - start))
                    damageStart = nil
                }
                position += JournalRecord.headerSize + length
                validEnd = position
                report.recordCount += 1
            } else {
                if damageStart == nil { damageStart = position }
                position = nextMagic(bytes, after: position) ?? bytes.count
            }
        }
        if let start = damageStart {
            // Damage that runs to the end is a torn tail, unless there was never a header:
            // then the whole file is damage (the store decides whether it is a journal).
            report.tornTailBytes = bytes.count - start
        }
        report.entryCount = entries.count
    }

    /// The length of the intact record at `position`, replayed; `nil` if there is none.
    private mutating func recordLength(_ bytes: UnsafeRawBufferPointer, at position: Int) -> Int? {
        let available = bytes.count - position
        guard available >= JournalRecord.headerSize else { return nil }
        guard
            UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
                == JournalRecord.magic
        else { return nil }
        let kindByte = bytes[position + 4]
        guard let kind = JournalRecord.Kind(rawValue: kindByte),
            bytes[position + 5] == 0, bytes[position + 6] == 0, bytes[position + 7] == 0
        else { return nil }
        let length = Int(
            UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position + 8, as: UInt32.self))
        )
        guard length <= JournalRecord.maximumPayload, available - JournalRecord.headerSize >= length
        else { return nil }
        let stored = UInt32(
            littleEndian: bytes.loadUnaligned(fromByteOffset: position + 12, as: UInt32.self))
        let payloadStart = position + JournalRecord.headerSize
        let payload = UnsafeRawBufferPointer(
            rebasing: bytes[payloadStart..<(payloadStart + length)])
        let seed = CRC32C.checksum(
            UnsafeRawBufferPointer(rebasing: bytes[(position + 4)..<(position + 12)]))
        guard CRC32C.checksum(payload, seed: seed) == stored else { return nil }
        switch kind {
        case .add, .update:
            guard let entry = JournalRecord.decodeEntry(payload) else { return nil }
            entries[entry.id] = entry
        case .remove:
            guard length > 0 else { return nil }
            entries[String(decoding: payload, as: UTF8.self)] = nil
        }
        return length
    }

    /// The offset of the next record magic after `position`, if any.
    private func nextMagic(_ bytes: UnsafeRawBufferPointer, after position: Int) -> Int? {
        var index = position + 1
        let last = bytes.count - 4
        // "DSQJ" little-endian: 0x44 0x53 0x51 0x4A.
        while index <= last {
            if bytes[index] == 0x44 && bytes[index + 1] == 0x53 && bytes[index + 2] == 0x51
                && bytes[index + 3] == 0x4A
            {
                return index
            }
            index += 1
        }
        return nil
    }
}
