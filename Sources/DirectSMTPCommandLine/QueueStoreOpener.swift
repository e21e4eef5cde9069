import DirectSMTP

/// The hook through which a program built on ``CommandLineTool`` puts the queue in a store
/// of its own: `send --queue VALUE` and `queue ... --queue VALUE` ask it first, and fall
/// back to a journal file at the path VALUE when it declines (returns `nil`).
///
/// ```swift
/// let opener = QueueStoreOpener(help: "--queue also takes memory:NAME") { location in
///     guard location.hasPrefix("memory:") else { return nil }  // a journal file's path
///     return OpenedQueueStore(store: InMemoryQueueStore(), close: {})
/// }
/// exit(await CommandLineTool.run(arguments, queueStores: opener))
/// ```
public struct QueueStoreOpener: Sendable {
    /// Opens the store `location` names, ready for use (created or migrated if it must be);
    /// `nil` when `location` is not one of this opener's (then it is a journal file's path).
    /// A failure is thrown as a ``QueueStoreError`` whose code ``exitCode`` maps.
    public typealias Open = @Sendable (_ location: String) async throws -> OpenedQueueStore?

    /// The exit status for a failure to open or use one of this opener's stores; `nil`
    /// leaves the failure to the journal's mapping (65, 66, 74, 75, else 70).
    public typealias ExitCodeMapping = @Sendable (_ error: any Error) -> Int32?

    let open: Open
    let exitCode: ExitCodeMapping
    /// A line `help` prints after the usage text, e.g. what else `--queue` takes.
    let help: String?

    /// An opener that tries `open` for every `--queue` value.
    ///
    /// - Parameters:
    ///   - help: a line `directsmtp help` prints after the usage text.
    ///   - exitCode: the exit status for a failure of this opener's stores; `nil` for the
    ///     journal's mapping.
    ///   - open: opens the store a `--queue` value names, or declines with `nil`.
    public init(
        help: String? = nil, exitCode: @escaping ExitCodeMapping = { _ in nil },
        open: @escaping Open
    ) {
        self.help = help
        self.exitCode = exitCode
        self.open = open
    }

    /// Every `--queue` value is a journal file's path, as in `directsmtp`.
    public static let journalFilesOnly = QueueStoreOpener { _ in nil }

    /// The opener of the command being run: a task-local rather than a parameter, so the
    /// commands reach it without every signature carrying it.
    @TaskLocal static var current = QueueStoreOpener.journalFilesOnly

    /// The exit status for a failure to open or use a queue store.
    static func exitCode(for error: any Error) -> Int32 {
        current.exitCode(error) ?? QueueFileStatus.exitCode(for: error)
    }
}

/// A queue store a ``QueueStoreOpener`` opened for one command.
public struct OpenedQueueStore: Sendable {
    /// The store.
    public var store: any QueueStore
    /// Releases what the store holds (connections, files); the command calls it once, last.
    public var close: @Sendable () async -> Void

    /// A store the command releases with `close`.
    public init(store: any QueueStore, close: @escaping @Sendable () async -> Void) {
        self.store = store
        self.close = close
    }
}
