/// An error from a built-in queue store: a stable ``Code`` to switch on, the `errno` behind
/// it when there is one, and a sentence for people.
///
/// ```swift
/// do {
///     let store = try await FileJournalQueueStore.open(path: "/var/spool/app/queue.journal")
/// } catch let error as QueueStoreError where error.code == .notAJournal {
///     print("that file is not a queue journal: \(error)")
/// }
/// ```
public struct QueueStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, stable across releases; new codes may be added.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The code's stable text, e.g. `"locked"`.
        public let rawValue: String
        /// Creates a code from its stable text.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The code's stable text.
        public var description: String { rawValue }

        /// Another process (or another store object in this one) kept the journal's lock
        /// longer than the store's patience: a stuck process (sections are short).
        public static let locked = Code(rawValue: "locked")
        /// `enqueue` with an identifier that is already stored.
        public static let duplicateID = Code(rawValue: "duplicate-id")
        /// An identifier that is not stored (kept for stores that report it; the lease
        /// operations answer `lease-lost` instead).
        public static let notFound = Code(rawValue: "not-found")
        /// The file exists but is not a queue journal (no valid header, no valid record).
        public static let notAJournal = Code(rawValue: "not-a-journal")
        /// A system call on the journal failed (open, read, write, fsync, rename...).
        public static let ioFailed = Code(rawValue: "io-failed")
        /// An earlier `fsync` failed; the store refuses further writes, because the kernel
        /// may have dropped data it had claimed. Reopen the journal to recover.
        public static let poisoned = Code(rawValue: "poisoned")
        /// The lease no longer holds the entry: it expired and another worker claimed the
        /// entry, or the entry is gone (delivered, given up or purged). The call changed
        /// nothing; the entry belongs to whoever holds its current lease.
        public static let leaseLost = Code(rawValue: "lease-lost")
        /// The store was closed.
        public static let closed = Code(rawValue: "closed")
        /// An entry too large to store (a record holds at most 64 MiB).
        public static let entryTooLarge = Code(rawValue: "entry-too-large")
        /// An entry the journal could not read back: an empty identifier, or a date that
        /// is not finite.
        public static let invalidEntry = Code(rawValue: "invalid-entry")
    }

    /// The stable code.
    public let code: Code
    /// The system error number behind the failure, if one.
    public let errno: Int32?
    /// A readable sentence saying what failed.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, errno: Int32? = nil, _ message: String) {
        self.code = code
        self.errno = errno
        self.message = message
    }

    /// The sentence, the code and the errno, for logs.
    public var description: String {
        if let errno {
            return "\(message) (\(code), errno \(errno))"
        }
        return "\(message) (\(code))"
    }
}
