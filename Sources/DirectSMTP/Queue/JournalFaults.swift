import Sockets

#if canImport(Glibc)
    import Glibc
#endif

/// Fault injection for the journal's tests (internal, not API): makes the next calls of
/// one system call on one journal path fail with a chosen `errno`, as a full disk
/// (`ENOSPC`) or a failing device (`EIO`) would. Keyed by path, so tests running in
/// parallel on their own temporary journals do not see each other's faults. With nothing
/// armed, ``check(_:path:)`` costs one uncontended lock next to a system call.
enum JournalFaults {
    /// The system calls a fault can hit.
    enum Call: Hashable, Sendable {
        /// `write(2)` of records: half the bytes are written, then the error.
        case write
        /// `fdatasync(2)` of the journal.
        case sync
        /// `ftruncate(2)` of the journal.
        case truncate
        /// `fsync(2)` of the journal's directory.
        case syncDirectory
    }

    private struct Fault {
        var errno: Int32
        var remaining: Int
        var delay: Duration
    }

    private struct State {
        var faults: [String: [Call: Fault]] = [:]
        var hits: [String: [Call: Int]] = [:]
    }

    private static let state = Lock(State())

    /// Makes the next `count` calls of `call` on `path` fail with `errno`, each after
    /// blocking its (I/O) thread for `delay`.
    static func inject(
        _ call: Call, path: String, errno: Int32, count: Int = 1, delay: Duration = .zero
    ) {
        state.withLock {
            $0.faults[path, default: [:]][call] = Fault(
                errno: errno, remaining: count, delay: delay)
        }
    }

    /// How many injected failures of `call` on `path` have happened.
    static func hits(_ call: Call, path: String) -> Int {
        state.withLock { $0.hits[path]?[call] ?? 0 }
    }

    /// Forgets every fault and count for `path`.
    static func clear(path: String) {
        state.withLock {
            $0.faults[path] = nil
            $0.hits[path] = nil
        }
    }

    /// The errno to fail `call` with, if a fault is armed for it (after its delay).
    static func check(_ call: Call, path: String) -> Int32? {
        let fault: Fault? = state.withLock { state in
            guard var fault = state.faults[path]?[call], fault.remaining > 0 else { return nil }
            fault.remaining -= 1
            state.faults[path]?[call] = fault
            state.hits[path, default: [:]][call, default: 0] += 1
            return fault
        }
        guard let fault else { return nil }
        if fault.delay > .zero {
            let parts = fault.delay.components
            usleep(
                UInt32(
                    min(
                        parts.seconds * 1_000_000 + parts.attoseconds / 1_000_000_000_000,
                        10_000_000)))
        }
        return fault.errno
    }
}
