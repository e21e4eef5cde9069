#if canImport(Glibc)
    import Glibc
#endif

/// The blocking system calls behind ``FileJournalQueueStore``. Every function here blocks
/// its thread; the store calls them only from its own serial `DispatchQueue`, never from
/// Swift's cooperative pool.
enum JournalFile {
    /// Opens (creating it, mode 0600) the journal at `path`, for appending. Refuses what
    /// is not a regular file (a directory, a FIFO, a device): reading one could block or
    /// mean nothing. A missing folder fails with `ENOENT`.
    static func open(path: String) throws(QueueStoreError) -> Int32 {
        // O_NONBLOCK: opening a FIFO must not wait for a writer; cleared again below.
        let fd = retryingEINTR {
            Glibc.open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0o600)
        }
        guard fd >= 0 else { throw failure("cannot open the queue journal \(path)") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = failure("cannot stat the queue journal \(path)")
            close(fd)
            throw error
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw QueueStoreError(
                .ioFailed, errno: EINVAL,
                "the queue journal \(path) is not a regular file (a directory, a FIFO or a device)")
        }
        _ = fcntl(fd, F_SETFL, O_RDWR | O_APPEND)
        return fd
    }

    /// Takes the journal's exclusive lock for one short section, retrying a taken lock
    /// with a growing pause (0.1 ms to 5 ms) for up to `patience`: other processes hold it
    /// only while they append and sync a few records (or compact), and a process being
    /// spawned holds a copy of every descriptor (and so of the lock) between its fork
    /// and its exec, even with O_CLOEXEC.
    static func lock(_ fd: Int32, path: String, patience: Duration) throws(QueueStoreError) {
        let deadline = ContinuousClock.now + patience
        var pause: UInt32 = 100
        while true {
            if retryingEINTR({ flock(fd, LOCK_EX | LOCK_NB) }) == 0 { return }
            let code = errno
            guard code == EWOULDBLOCK else {
                throw QueueStoreError(
                    .ioFailed, errno: code, "cannot lock the queue journal \(path)")
            }
            if ContinuousClock.now >= deadline {
                throw QueueStoreError(
                    .locked, errno: code,
                    "the queue journal \(path) stayed locked by another process for \(patience); is one stuck?"
                )
            }
            usleep(pause)
            pause = min(pause * 2, 5_000)
        }
    }

    /// Releases the section's lock.
    static func unlock(_ fd: Int32) {
        _ = retryingEINTR { flock(fd, LOCK_UN) }
    }

    /// Whether `fd` is still the file named `path` (a compaction elsewhere renames a new
    /// file over it).
    static func isCurrent(_ fd: Int32, path: String) -> Bool {
        var opened = stat()
        var named = stat()
        return fstat(fd, &opened) == 0 && stat(path, &named) == 0
            && opened.st_ino == named.st_ino && opened.st_dev == named.st_dev
    }

    /// The file's size.
    static func size(fd: Int32, path: String) throws(QueueStoreError) -> Int {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("cannot stat the queue journal \(path)") }
        return Int(info.st_size)
    }

    /// Reads the file from `start` to its end.
    static func read(fd: Int32, from start: Int = 0, path: String) throws(QueueStoreError)
        -> [UInt8]
    {
        let size = max(try self.size(fd: fd, path: path) - start, 0)
        var failure: Int32?
        // Read straight into uninitialised storage: no zero-fill of a file that may be
        // hundreds of megabytes.
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var offset = 0
            while offset < size {
                let count = pread(
                    fd, buffer.baseAddress! + offset, size - offset, off_t(start + offset))
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
        let fd = retryingEINTR { Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
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
            Glibc.open(temporaryPath, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o600)
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
    /// is whole: the rename is atomic). Only the lock holder may call it: compactions
    /// happen under the lock.
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
