#if canImport(Glibc)
    import Glibc
#endif

/// The blocking system calls behind ``FileJournalQueueStore``. Every function here blocks
/// its thread; the store calls them only from its own serial `DispatchQueue`, never from
/// Swift's cooperative pool.
enum JournalFile {
    /// Opens (creating it, mode 0600) and exclusively locks the journal at `path`, retrying
    /// a taken lock for `patience` (see ``lockBriefly(_:for:)``). Returns the descriptor
    /// and whether the file was created.
    static func openLocked(path: String, patience: Duration = .milliseconds(250))
        throws(QueueStoreError) -> (fd: Int32, created: Bool)
    {
        // A compaction renames a new file over the path; if that happens between our
        // open and our flock, we hold a lock on an unlinked file. Check and retry.
        for _ in 0..<8 {
            let existed = access(path, F_OK) == 0
            let fd = retryingEINTR { open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600) }
            guard fd >= 0 else {
                throw failure("cannot open the queue journal \(path)")
            }
            if !lockBriefly(fd, for: patience) {
                let code = errno
                close(fd)
                if code == EWOULDBLOCK {
                    throw QueueStoreError(
                        .locked, errno: code,
                        "the queue journal \(path) is locked by another process or store object; only one may write it at a time"
                    )
                }
                throw QueueStoreError(
                    .ioFailed, errno: code, "cannot lock the queue journal \(path)")
            }
            var opened = stat()
            var named = stat()
            if fstat(fd, &opened) == 0, stat(path, &named) == 0,
                opened.st_ino == named.st_ino, opened.st_dev == named.st_dev
            {
                return (fd, !existed)
            }
            close(fd)
        }
        // Only a lock holder compacts (renames a new file over the path): someone is writing.
        throw QueueStoreError(
            .locked, errno: EWOULDBLOCK,
            "the queue journal \(path) is being rewritten by another process or store object; only one may write it at a time"
        )
    }

    /// Takes the exclusive lock, retrying every 2 ms for up to `patience` (by default a
    /// quarter of a second): a process this one is spawning holds a copy of every
    /// descriptor (and so of the lock) between its fork and its exec, even with O_CLOEXEC,
    /// so a lock just released can still look taken for a moment. A lock held for longer
    /// is really held.
    private static func lockBriefly(_ fd: Int32, for patience: Duration) -> Bool {
        let attempts = max(1, Int(patience / .milliseconds(2)) + 1)
        for attempt in 0..<attempts {
            if retryingEINTR({ flock(fd, LOCK_EX | LOCK_NB) }) == 0 { return true }
            if errno != EWOULDBLOCK { return false }
            if attempt < attempts - 1 { usleep(2_000) }
        }
        errno = EWOULDBLOCK
        return false
    }

    /// Reads the whole file from offset 0.
    static func readAll(fd: Int32, path: String) throws(QueueStoreError) -> [UInt8] {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("cannot stat the queue journal \(path)") }
        let size = Int(info.st_size)
        var failure: Int32?
        // Read straight into uninitialised storage: no zero-fill of a file that may be
        // hundreds of megabytes.
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var offset = 0
            while offset < size {
                let count = pread(fd, buffer.baseAddress! + offset, size - offset, off_t(offset))
                if count < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if count == 0 { break }
                offset += count
            }
            initialized = offset
        }
        if let failure {
            throw QueueStoreError(
                .ioFailed, errno: failure, "cannot read the queue journal \(path)")
        }
        return bytes
    }

    /// Writes every byte (the descriptor is O_APPEND), retrying short writes and EINTR.
    static func writeAll(fd: Int32, _ bytes: [UInt8], path: String) throws(QueueStoreError) {
        let injected = JournalFaults.check(.write, path: path)
        let error: Int32? = bytes.withUnsafeBytes { buffer in
            var offset = 0
            if let injected {
                // As a full disk does: part of the data lands, then the error.
                _ = write(fd, buffer.baseAddress, buffer.count / 2)
                return injected
            }
            while offset < buffer.count {
                let count = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if count < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += count
            }
            return nil
        }
        if let error {
            throw QueueStoreError(.ioFailed, errno: error, "cannot write the queue journal \(path)")
        }
    }

    /// `fdatasync`: the data and the size reach the disk.
    static func sync(fd: Int32, path: String) throws(QueueStoreError) {
        if let injected = JournalFaults.check(.sync, path: path) {
            throw QueueStoreError(
                .ioFailed, errno: injected, "cannot fsync the queue journal \(path)")
        }
        guard retryingEINTR({ fdatasync(fd) }) == 0 else {
            throw failure("cannot fsync the queue journal \(path)")
        }
    }

    /// Cuts the file to `size` bytes.
    static func truncate(fd: Int32, to size: Int, path: String) throws(QueueStoreError) {
        if let injected = JournalFaults.check(.truncate, path: path) {
            throw QueueStoreError(
                .ioFailed, errno: injected, "cannot truncate the queue journal \(path)")
        }
        guard retryingEINTR({ ftruncate(fd, off_t(size)) }) == 0 else {
            throw failure("cannot truncate the queue journal \(path)")
        }
    }

    /// `fsync` of the directory holding `path`, so a create or rename in it is durable.
    static func syncDirectory(of path: String) throws(QueueStoreError) {
        let directory = directoryName(of: path)
        if let injected = JournalFaults.check(.syncDirectory, path: path) {
            throw QueueStoreError(
                .ioFailed, errno: injected, "cannot fsync the directory \(directory)")
        }
        let fd = retryingEINTR { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw failure("cannot open the directory \(directory)") }
        defer { close(fd) }
        guard retryingEINTR({ fsync(fd) }) == 0 else {
            throw failure("cannot fsync the directory \(directory)")
        }
    }

    /// Writes `bytes` to a new file at `temporaryPath`, fsyncs and locks it, renames it over
    /// `path`, fsyncs the directory. Returns the new descriptor (O_APPEND, locked).
    static func replace(path: String, temporaryPath: String, with bytes: [UInt8])
        throws(QueueStoreError) -> Int32
    {
        let fd = retryingEINTR {
            open(temporaryPath, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
        }
        guard fd >= 0 else { throw failure("cannot create \(temporaryPath)") }
        do throws(QueueStoreError) {
            try writeAll(fd: fd, bytes, path: temporaryPath)
            guard retryingEINTR({ fsync(fd) }) == 0 else {
                throw failure("cannot fsync \(temporaryPath)")
            }
            guard retryingEINTR({ flock(fd, LOCK_EX | LOCK_NB) }) == 0 else {
                throw failure("cannot lock \(temporaryPath)")
            }
            guard rename(temporaryPath, path) == 0 else {
                throw failure("cannot rename \(temporaryPath) to \(path)")
            }
        } catch {
            close(fd)
            unlink(temporaryPath)
            throw error
        }
        return fd
    }

    /// Removes a compaction's temporary file that a crash left behind (the journal itself
    /// is whole: the rename is atomic). Only the lock holder may call it.
    static func removeLeftoverTemporary(_ temporaryPath: String) throws(QueueStoreError) {
        if unlink(temporaryPath) != 0 && errno != ENOENT {
            throw failure("cannot remove the leftover \(temporaryPath)")
        }
    }

    /// Hard-links `path` to `base`, or `base.1`, `base.2`... if taken: keeps the file as
    /// it is, for later inspection. Returns the name used.
    static func preserve(path: String, as base: String) throws(QueueStoreError) -> String {
        for attempt in 0..<1000 {
            let candidate = attempt == 0 ? base : "\(base).\(attempt)"
            if link(path, candidate) == 0 { return candidate }
            if errno != EEXIST { break }
        }
        throw failure("cannot keep a copy of the damaged journal at \(base)")
    }

    /// `close(2)`, never retried (Linux frees the descriptor even on EINTR).
    static func closeDescriptor(_ fd: Int32) {
        if fd >= 0 { _ = close(fd) }
    }

    static func directoryName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let directory = String(path[..<slash])
        return directory.isEmpty ? "/" : directory
    }

    private static func failure(_ message: String) -> QueueStoreError {
        QueueStoreError(.ioFailed, errno: errno, message)
    }

    private static func retryingEINTR(_ call: () -> Int32) -> Int32 {
        while true {
            let result = call()
            if result == -1 && errno == EINTR { continue }
            return result
        }
    }
}
