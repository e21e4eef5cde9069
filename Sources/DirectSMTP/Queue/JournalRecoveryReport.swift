/// What recovery found when a journal was opened: how many intact records it replayed,
/// and any damage it stepped over. A journal killed mid-write typically shows a few
/// ``tornTailBytes``; anything in ``damagedRegions`` means bytes changed on disk.
public struct JournalRecoveryReport: Sendable, Hashable, CustomStringConvertible {
    /// A run of bytes between intact records that held no valid record.
    public struct DamagedRegion: Sendable, Hashable {
        /// Offset of the first damaged byte in the journal file.
        public var offset: Int
        /// Number of damaged bytes.
        public var length: Int
    }

    /// Size of the journal file when it was opened.
    public var fileSize: Int
    /// Intact records replayed.
    public var recordCount: Int
    /// Entries alive after the replay.
    public var entryCount: Int
    /// The 8-byte file header was missing or wrong (records were still recovered).
    public var headerDamaged: Bool
    /// Runs of bytes that hold no intact record: a record that fails its check (even the
    /// last one of the file), or anything else that is not a record.
    public var damagedRegions: [DamagedRegion]
    /// The beginning of a record cut short at the very end of the file: a write a crash
    /// interrupted, never acknowledged. Cut off the file; not damage.
    public var tornTailBytes: Int
    /// When the journal had damage, a copy of it as it was found (the journal itself is
    /// rewritten with the recovered entries).
    public var preservedCopyPath: String?

    /// No damage of any kind.
    public var isClean: Bool {
        !headerDamaged && damagedRegions.isEmpty && tornTailBytes == 0
    }

    /// Damage other than a torn tail (which a crash during a write leaves, by design).
    public var hasCorruption: Bool {
        headerDamaged || !damagedRegions.isEmpty
    }

    /// A one-line summary for logs.
    public var description: String {
        var parts = ["\(recordCount) intact records, \(entryCount) entries"]
        if headerDamaged { parts.append("file header damaged") }
        if !damagedRegions.isEmpty {
            let bytes = damagedRegions.reduce(0) { $0 + $1.length }
            let offsets = damagedRegions.prefix(5).map { String($0.offset) }.joined(separator: ", ")
            parts.append(
                "\(damagedRegions.count) damaged region(s), \(bytes) bytes skipped (at offset \(offsets)\(damagedRegions.count > 5 ? ", ..." : ""))"
            )
        }
        if tornTailBytes > 0 {
            parts.append("\(tornTailBytes) bytes of torn or unreadable tail cut off")
        }
        if let preservedCopyPath { parts.append("damaged original kept at \(preservedCopyPath)") }
        return parts.joined(separator: "; ")
    }
}
