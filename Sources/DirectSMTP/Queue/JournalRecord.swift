import Foundation

/// The journal's on-disk format: a file header, then records appended one after another.
///
/// ```
/// file header   8 bytes  "DSQJRNL1"
/// record        16-byte header + payload, little-endian
///   magic       u32      0x4A515344 ("DSQJ"), lets recovery resynchronise after damage
///   kind        u8       1 add, 2 update, 3 remove, 4 lease, 5 add leased, 6 reschedule
///   reserved    3 bytes  zero
///   length      u32      payload length (at most 64 MiB)
///   crc         u32      CRC-32C of kind, reserved, length and payload
///   payload     add/update: the entry (see below); remove: the id as UTF-8;
///               lease: str id, str token, f64 expiresAt (a claim or a renewal);
///               add leased: str token, f64 expiresAt, then the entry;
///               reschedule: str id, i64 attempts, f64 nextAttemptAt, u8 has reason,
///               [str lastReason] (and the lease released)
/// entry         u8 version (1), str id, str from, str to, blob data, u8 flags
///               (1 = 8BITMIME, 2 = SMTPUTF8, 4 = has lastReason), str messageID,
///               f64 createdAt, f64 nextAttemptAt (seconds since 1970, IEEE bits),
///               i64 attempts, [str lastReason]; str and blob are u32 length + bytes
/// ```
///
/// Pure functions, no I/O: ``FileJournalQueueStore`` writes what these encode and
/// ``JournalScanner`` reads it back.
enum JournalRecord {
    /// The record kinds.
    enum Kind: UInt8 {
        case add = 1
        case update = 2
        case remove = 3
        case lease = 4
        case addLeased = 5
        case reschedule = 6
    }

    static let fileHeader: [UInt8] = Array("DSQJRNL1".utf8)
    static let magic: UInt32 = 0x4A51_5344
    static let headerSize = 16
    static let maximumPayload = 64 << 20

    /// One whole record (header and payload) for `kind` and `payload`.
    static func encode(kind: Kind, payload: [UInt8]) -> [UInt8] {
        var record: [UInt8] = []
        record.reserveCapacity(headerSize + payload.count)
        appendRecord(kind: kind, payload: payload, to: &record)
        return record
    }

    /// Appends one whole record to `buffer`.
    static func appendRecord(kind: Kind, payload: [UInt8], to buffer: inout [UInt8]) {
        let start = buffer.count
        append(magic, to: &buffer)
        buffer.append(kind.rawValue)
        buffer.append(contentsOf: [0, 0, 0])
        append(UInt32(payload.count), to: &buffer)
        append(UInt32(0), to: &buffer)  // crc, filled in below
        buffer.append(contentsOf: payload)
        let crc = buffer.withUnsafeBytes { all in
            let covered = UnsafeRawBufferPointer(rebasing: all[(start + 4)..<(start + 12)])
            let seed = CRC32C.checksum(covered)
            return CRC32C.checksum(
                UnsafeRawBufferPointer(rebasing: all[(start + headerSize)...]), seed: seed)
        }
        withUnsafeBytes(of: crc.littleEndian) { bytes in
            for (offset, byte) in bytes.enumerated() { buffer[start + 12 + offset] = byte }
        }
    }

    /// The record that adds (or updates) `entry`.
    static func encode(_ kind: Kind, entry: QueueEntry) throws(QueueStoreError) -> [UInt8] {
        // Refuse what decodeEntry would refuse: an acknowledged record that recovery then
        // drops (and reports as damage) is an acknowledged entry lost.
        guard !entry.id.isEmpty else {
            throw QueueStoreError(.invalidEntry, "an entry needs a non-empty id")
        }
        guard entry.createdAt.timeIntervalSince1970.isFinite,
            entry.nextAttemptAt.timeIntervalSince1970.isFinite
        else {
            throw QueueStoreError(
                .invalidEntry, "entry \(entry.id) has a date that is not finite")
        }
        let payload = encodeEntry(entry)
        guard payload.count <= maximumPayload else {
            throw QueueStoreError(
                .entryTooLarge,
                "entry \(entry.id) needs \(payload.count) bytes; a record holds at most 64 MiB")
        }
        return encode(kind: kind, payload: payload)
    }

    /// The record that removes the entry `id`.
    static func encodeRemove(id: String) -> [UInt8] {
        encode(kind: .remove, payload: Array(id.utf8))
    }

    /// The record that adds `entry` already leased by `lease`.
    static func encodeAddLeased(_ entry: QueueEntry, lease: QueueLease) throws(QueueStoreError)
        -> [UInt8]
    {
        let record = try encode(.add, entry: entry)
        var payload: [UInt8] = []
        payload.reserveCapacity(record.count + lease.token.utf8.count)
        appendString(lease.token, to: &payload)
        append(try seconds(lease.expiresAt, of: entry.id).bitPattern, to: &payload)
        payload.append(contentsOf: record[headerSize...])
        return encode(kind: .addLeased, payload: payload)
    }

    /// The record that gives (or renews) `lease`.
    static func encodeLease(_ lease: QueueLease) throws(QueueStoreError) -> [UInt8] {
        var payload: [UInt8] = []
        appendString(lease.entryID, to: &payload)
        appendString(lease.token, to: &payload)
        append(try seconds(lease.expiresAt, of: lease.entryID).bitPattern, to: &payload)
        return encode(kind: .lease, payload: payload)
    }

    /// The record that reschedules the entry `id` and releases its lease.
    static func encodeReschedule(
        id: String, attempts: Int, nextAttemptAt: Date, lastReason: String?
    ) throws(QueueStoreError) -> [UInt8] {
        var payload: [UInt8] = []
        appendString(id, to: &payload)
        append(UInt64(bitPattern: Int64(attempts)), to: &payload)
        append(try seconds(nextAttemptAt, of: id).bitPattern, to: &payload)
        payload.append(lastReason == nil ? 0 : 1)
        if let lastReason { appendString(lastReason, to: &payload) }
        return encode(kind: .reschedule, payload: payload)
    }

    private static func seconds(_ date: Date, of id: String) throws(QueueStoreError) -> Double {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite else {
            throw QueueStoreError(.invalidEntry, "entry \(id) has a date that is not finite")
        }
        return seconds
    }

    /// One record's effect, decoded from its kind and payload; `nil` when malformed.
    enum Change {
        case put(QueueEntry, lease: QueueLease?)
        case remove(String)
        case lease(QueueLease)
        case reschedule(id: String, attempts: Int, nextAttemptAt: Date, lastReason: String?)
    }

    static func decode(_ kind: Kind, _ payload: UnsafeRawBufferPointer) -> Change? {
        switch kind {
        case .add, .update:
            return decodeEntry(payload).map { .put($0, lease: nil) }
        case .remove:
            guard !payload.isEmpty else { return nil }
            return .remove(String(decoding: payload, as: UTF8.self))
        case .lease:
            var reader = Reader(bytes: payload)
            guard let id = reader.string(), !id.isEmpty, let token = reader.string(),
                let expiry = reader.date(), reader.isAtEnd
            else { return nil }
            return .lease(QueueLease(entryID: id, token: token, expiresAt: expiry))
        case .addLeased:
            var reader = Reader(bytes: payload)
            guard let token = reader.string(), let expiry = reader.date(),
                let entry = decodeEntry(UnsafeRawBufferPointer(rebasing: payload[reader.offset...]))
            else { return nil }
            return .put(
                entry, lease: QueueLease(entryID: entry.id, token: token, expiresAt: expiry))
        case .reschedule:
            var reader = Reader(bytes: payload)
            guard let id = reader.string(), !id.isEmpty, let attempts = reader.uint64(),
                let next = reader.date(), let hasReason = reader.byte(), hasReason <= 1
            else { return nil }
            var reason: String?
            if hasReason == 1 {
                guard let text = reader.string() else { return nil }
                reason = text
            }
            guard reader.isAtEnd else { return nil }
            return .reschedule(
                id: id, attempts: Int(truncatingIfNeeded: Int64(bitPattern: attempts)),
                nextAttemptAt: next, lastReason: reason)
        }
    }

    // MARK: Entry payload

    static func encodeEntry(_ entry: QueueEntry) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(
            64 + entry.id.utf8.count + entry.from.utf8.count + entry.to.utf8.count
                + entry.data.count + entry.messageID.utf8.count
                + (entry.lastReason?.utf8.count ?? 0))
        out.append(1)
        appendString(entry.id, to: &out)
        appendString(entry.from, to: &out)
        appendString(entry.to, to: &out)
        append(UInt32(entry.data.count), to: &out)
        out.append(contentsOf: entry.data)
        var flags: UInt8 = 0
        if entry.requires8BitMIME { flags |= 1 }
        if entry.requiresSMTPUTF8 { flags |= 2 }
        if entry.lastReason != nil { flags |= 4 }
        out.append(flags)
        appendString(entry.messageID, to: &out)
        append(entry.createdAt.timeIntervalSince1970.bitPattern, to: &out)
        append(entry.nextAttemptAt.timeIntervalSince1970.bitPattern, to: &out)
        append(UInt64(bitPattern: Int64(entry.attempts)), to: &out)
        if let reason = entry.lastReason { appendString(reason, to: &out) }
        return out
    }

    /// Decodes an entry payload; `nil` when it is malformed in any way.
    static func decodeEntry(_ bytes: UnsafeRawBufferPointer) -> QueueEntry? {
        var reader = Reader(bytes: bytes)
        guard reader.byte() == 1,
            let id = reader.string(),
            let from = reader.string(),
            let to = reader.string(),
            let data = reader.blob(),
            let flags = reader.byte(),
            let messageID = reader.string(),
            let created = reader.uint64(),
            let next = reader.uint64(),
            let attempts = reader.uint64()
        else { return nil }
        var lastReason: String?
        if flags & 4 != 0 {
            guard let reason = reader.string() else { return nil }
            lastReason = reason
        }
        guard reader.isAtEnd, flags & ~7 == 0, !id.isEmpty else { return nil }
        let createdAt = Double(bitPattern: created)
        let nextAttemptAt = Double(bitPattern: next)
        guard createdAt.isFinite, nextAttemptAt.isFinite else { return nil }
        return QueueEntry(
            id: id, from: from, to: to, data: data,
            requires8BitMIME: flags & 1 != 0, requiresSMTPUTF8: flags & 2 != 0,
            messageID: messageID,
            createdAt: Date(timeIntervalSince1970: createdAt),
            nextAttemptAt: Date(timeIntervalSince1970: nextAttemptAt),
            attempts: Int(truncatingIfNeeded: Int64(bitPattern: attempts)),
            lastReason: lastReason)
    }

    // MARK: Little-endian helpers

    static func append<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
    }

    static func appendString(_ text: String, to buffer: inout [UInt8]) {
        let utf8 = text.utf8
        append(UInt32(utf8.count), to: &buffer)
        buffer.append(contentsOf: utf8)
    }

    /// A bounds-checked little-endian reader; every read returns `nil` past the end.
    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        var isAtEnd: Bool { offset == bytes.count }

        mutating func byte() -> UInt8? {
            guard offset < bytes.count else { return nil }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func uint32() -> UInt32? {
            guard bytes.count - offset >= 4 else { return nil }
            defer { offset += 4 }
            return UInt32(
                littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        }

        mutating func uint64() -> UInt64? {
            guard bytes.count - offset >= 8 else { return nil }
            defer { offset += 8 }
            return UInt64(
                littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }

        /// A finite f64 of seconds since 1970.
        mutating func date() -> Date? {
            guard let bits = uint64() else { return nil }
            let seconds = Double(bitPattern: bits)
            return seconds.isFinite ? Date(timeIntervalSince1970: seconds) : nil
        }

        mutating func slice() -> UnsafeRawBufferPointer? {
            guard let length = uint32().map(Int.init), bytes.count - offset >= length else {
                return nil
            }
            defer { offset += length }
            return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
        }

        mutating func string() -> String? {
            slice().map { String(decoding: $0, as: UTF8.self) }
        }

        mutating func blob() -> [UInt8]? {
            slice().map { Array($0) }
        }
    }
}
