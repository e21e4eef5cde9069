import DirectSMTP
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `send --queue PATH`: the durable journal queue a deferred message goes into.
///
/// The journal is shared by every process that opens it through short exclusive sections
/// (``FileJournalQueueStore``): a `queue run` that is working holds its lock only while it
/// records a claim or an outcome, never while it delivers, so `send` stores its deferral
/// (or holds a send outliving its budget, under a lease) without waiting for the run.
enum SendQueue {
    /// Opens the queue `location` names (the ``QueueStoreOpener``'s store, else the journal
    /// at that path, created if needed) and attaches a queue over it to `coordinator`.
    /// Returns the store, to close before the process exits.
    static func attach(path location: String, to coordinator: VerificationCoordinator) async throws
        -> OpenedQueueStore
    {
        if let opened = try await QueueStoreOpener.current.open(location) {
            coordinator.attach(DeliveryQueue(store: opened.store))
            return opened
        }
        let store = try await FileJournalQueueStore.open(path: location)
        if !store.recovery.isClean {
            printError("directsmtp send: queue journal recovery: \(store.recovery)")
        }
        coordinator.attach(DeliveryQueue(store: store))
        return OpenedQueueStore(store: store, close: { await store.close() })
    }

    /// `location` for messages: a URL's password replaced by `***`.
    static func displayName(_ location: String) -> String {
        guard var url = URLComponents(string: location), url.scheme != nil, url.password != nil else {
            return location
        }
        url.password = "***"
        return url.string ?? location
    }
}

/// The exit codes for queue-file problems (DESIGN.md's command-line contract), shared by
/// `queue` and `send --queue`.
enum QueueFileStatus {
    /// 65 a file that is not a journal; 66 a journal in a folder that does not exist; 74 a
    /// journal that cannot be read or written (a directory, a FIFO, no permission, a disk
    /// fault); 75 another process kept the journal locked; 70 anything else (our fault).
    static func exitCode(for error: any Error) -> Int32 {
        guard let error = error as? QueueStoreError else { return ExitCode.software }
        switch error.code {
        case .notAJournal: return ExitCode.dataError
        case .locked: return ExitCode.tempFail
        case .ioFailed where error.errno == ENOENT || error.errno == ENOTDIR:
            return ExitCode.noInput
        case .ioFailed, .poisoned: return ExitCode.ioError
        default: return ExitCode.software
        }
    }

    /// Whether the folder that would hold `path` exists (a journal missing from an
    /// existing folder is an empty queue; a missing folder is a mistyped path).
    static func folderExists(of path: String) -> Bool {
        let folder = (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(
            atPath: folder.isEmpty ? "." : folder, isDirectory: &isDirectory)
            && isDirectory.boolValue
    }
}
