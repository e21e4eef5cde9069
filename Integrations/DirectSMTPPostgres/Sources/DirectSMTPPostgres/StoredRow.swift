import DirectSMTP
import Foundation
import PostgresNIO

/// One row of the queue table, in ``QueueTableSchema/columns`` order, read back as an entry
/// and the token of the lease on it (nil when unleased).
enum StoredRow {
    static func decode(_ row: PostgresRow) throws -> (entry: QueueEntry, token: String?) {
        let (
            id, from, to, messageID, data, requires8BitMIME, requiresSMTPUTF8, createdAt, nextAttemptAt,
            attempts, lastReason, token, _
        ) = try row.decode(
            (
                String, String, String, String, ByteBuffer, Bool, Bool, Date, Date, Int32, String?, String?,
                Date?
            ).self)
        let entry = QueueEntry(
            id: id, from: from, to: to, data: Array(data.readableBytesView),
            requires8BitMIME: requires8BitMIME, requiresSMTPUTF8: requiresSMTPUTF8, messageID: messageID,
            createdAt: createdAt, nextAttemptAt: nextAttemptAt, attempts: Int(attempts), lastReason: lastReason)
        return (entry, token)
    }
}
