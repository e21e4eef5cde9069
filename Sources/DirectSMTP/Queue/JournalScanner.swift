/// Recovery as a pure function: reads a journal's bytes, replays every intact record, and
/// says where the damage is. Never traps on any input.
///
/// A record counts as intact when its magic, length and CRC-32C check out and its payload
/// decodes. After a bad spot the scanner resynchronises on the next magic number, so one
/// damaged record costs only itself. Replay is forgiving: an add or update of an id sets
/// it, a remove, lease or reschedule of an unknown id is ignored, so an update whose add
/// was lost still keeps its entry. (Every writer checked its operation against the
/// journal, under the lock, before appending it; replay does not check again.)
///
/// Only bytes that are the beginning of a record cut short at the end of the file are a
/// **torn tail** (a write a crash interrupted, never acknowledged). A record that is
/// complete but fails its check, even the last one, is damage; so is anything else that is
/// not a record (``isTornTail(_:at:)``).
struct JournalScanner {
    /// Offset just past the last intact record (or past the header); appends go here.
    var validEnd = 0
    /// What was found.
    var report: JournalRecoveryReport

    /// Scans a whole journal file into a new table.
    static func scan(_ bytes: UnsafeRawBufferPointer) -> (JournalScanner, QueueLeaseTable) {
        var table = QueueLeaseTable()
        var scanner = JournalScanner(bytes, header: true) { table.apply($0) }
        scanner.report.entryCount = table.count
        return (scanner, table)
    }

    /// Scans `bytes`, handing each intact record's change to `replay`: a whole file
    /// (`header`), or what was appended after a prefix already replayed (offsets are then
    /// relative to `bytes`). ``JournalRecoveryReport/entryCount`` is left to the caller.
    init(
        _ bytes: UnsafeRawBufferPointer, header: Bool,
        replay: (JournalRecord.Change) -> Void
    ) {
        report = JournalRecoveryReport(
            fileSize: bytes.count, recordCount: 0, entryCount: 0, headerDamaged: false,
            damagedRegions: [], tornTailBytes: 0, preservedCopyPath: nil)
        let fileHeader = JournalRecord.fileHeader
        var position = 0
        var damageStart: Int?
        if !header {
            position = 0
        } else if bytes.count >= fileHeader.count
            && bytes.prefix(fileHeader.count).elementsEqual(fileHeader)
        {
            position = fileHeader.count
            validEnd = position
        } else if bytes.count > 0 {
            report.headerDamaged = true
            damageStart = 0
        }
        // Where the last record that failed was tried: the tail from there may be torn.
        var lastTry = position
        while position < bytes.count {
            if let length = Self.recordLength(bytes, at: position, replay: replay) {
                // A file that starts with a record (its header missing, not overwritten)
                // has a damaged header but no damaged bytes: no empty region.
                if let start = damageStart, position > start {
                    report.damagedRegions.append(.init(offset: start, length: position - start))
                }
                damageStart = nil
                position += JournalRecord.headerSize + length
                validEnd = position
                report.recordCount += 1
            } else {
                if damageStart == nil { damageStart = position }
                lastTry = position
                position = Self.nextMagic(bytes, after: position) ?? bytes.count
            }
        }
        if let start = damageStart {
            if lastTry >= start, Self.isTornTail(bytes, at: lastTry) {
                if lastTry > start {
                    report.damagedRegions.append(.init(offset: start, length: lastTry - start))
                }
                report.tornTailBytes = bytes.count - lastTry
            } else {
                report.damagedRegions.append(.init(offset: start, length: bytes.count - start))
            }
        }
    }

    /// Whether the bytes from `position` to the end are a record cut short: a valid
    /// header prefix whose record runs past the end of the file, and not a complete
    /// record whose length field was damaged (its CRC then checks with the length the
    /// file leaves). Zeros to the end (what a crash can leave in blocks allocated for a
    /// write) count as torn too.
    static func isTornTail(_ bytes: UnsafeRawBufferPointer, at position: Int) -> Bool {
        let remaining = bytes.count - position
        guard remaining > 0 else { return false }
        if bytes[position...].allSatisfy({ $0 == 0 }) { return true }
        var magic: [UInt8] = []
        JournalRecord.append(JournalRecord.magic, to: &magic)
        for index in 0..<min(remaining, 4) where bytes[position + index] != magic[index] {
            return false
        }
        if remaining > 4, JournalRecord.Kind(rawValue: bytes[position + 4]) == nil { return false }
        for index in min(remaining, 5)..<min(remaining, 8) where bytes[position + index] != 0 {
            return false
        }
        guard remaining >= JournalRecord.headerSize else { return true }
        let length = Int(
            UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position + 8, as: UInt32.self))
        )
        // Complete (it fits) yet it failed its check: damage.
        if length <= remaining - JournalRecord.headerSize { return false }
        // A damaged length over a record that is complete up to the end of the file.
        let stored = UInt32(
            littleEndian: bytes.loadUnaligned(fromByteOffset: position + 12, as: UInt32.self))
        var covered = Array(bytes[(position + 4)..<(position + 8)])
        JournalRecord.append(UInt32(remaining - JournalRecord.headerSize), to: &covered)
        let payload = UnsafeRawBufferPointer(
            rebasing: bytes[(position + JournalRecord.headerSize)...])
        let crc = covered.withUnsafeBytes { CRC32C.checksum(payload, seed: CRC32C.checksum($0)) }
        return crc != stored
    }

    /// The length of the intact record at `position`, replayed; `nil` if there is none.
    private static func recordLength(
        _ bytes: UnsafeRawBufferPointer, at position: Int, replay: (JournalRecord.Change) -> Void
    ) -> Int? {
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
        guard CRC32C.checksum(payload, seed: seed) == stored,
            let change = JournalRecord.decode(kind, payload)
        else { return nil }
        replay(change)
        return length
    }

    /// The offset of the next record magic after `position`, if any.
    private static func nextMagic(_ bytes: UnsafeRawBufferPointer, after position: Int) -> Int? {
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

extension QueueLeaseTable {
    /// Replays one record's change (unknown ids ignored, as the scanner explains).
    mutating func apply(_ change: JournalRecord.Change) {
        switch change {
        case .put(let entry, let lease):
            put(entry, lease: lease)
        case .remove(let id):
            remove(id)
        case .lease(let lease):
            setLease(lease, of: lease.entryID)
        case .reschedule(let id, let attempts, let nextAttemptAt, let lastReason):
            reschedule(id, attempts: attempts, nextAttemptAt: nextAttemptAt, lastReason: lastReason)
        }
    }
}
