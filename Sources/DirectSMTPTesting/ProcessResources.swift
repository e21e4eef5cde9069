#if canImport(Glibc)
import CSystemShims
import Glibc
#endif

/// This process's open file descriptors and resident memory, read from `/proc/self`
/// (Linux), for soaks and leak checks.
public enum ProcessResources {
    /// How many file descriptors are open now (`/proc/self/fd`, less the one reading it);
    /// -1 when it cannot be read.
    public static func openFileDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return -1 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let first = entry.pointee.d_name.0
            if first != CChar(UInt8(ascii: ".")) { count += 1 }
        }
        return count - 1
    }

    /// What each open descriptor refers to (`/proc/self/fd/N` → `socket:[...]`, a path),
    /// by number, for telling which one leaked.
    public static func descriptorTargets() -> [Int32: String] {
        guard let directory = opendir("/proc/self/fd") else { return [:] }
        defer { closedir(directory) }
        var targets: [Int32: String] = [:]
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let fd = Int32(name) else { continue }
            var buffer = [CChar](repeating: 0, count: 512)
            let count = readlink("/proc/self/fd/\(name)", &buffer, buffer.count - 1)
            guard count >= 0 else { continue }
            let target = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // The descriptor reading /proc/self/fd itself.
            if fd == dirfd(directory) { continue }
            targets[fd] = target
        }
        return targets
    }

    /// The open descriptors that are TCP or UDP sockets with one of `ports` at either end,
    /// by number (`/proc/self/net/{tcp,tcp6,udp,udp6}` matched by inode with
    /// `/proc/self/fd`): the sockets of one piece of work, which other work in the same
    /// process (the other suites of a parallel test run) does not change.
    public static func sockets(onPorts ports: Set<Int>) -> [Int32: String] {
        guard !ports.isEmpty else { return [:] }
        var inodes: Set<String> = []
        for table in ["tcp", "tcp6", "udp", "udp6"] {
            guard let text = readText("/proc/self/net/\(table)") else { continue }
            // "sl local_address rem_address st ... uid timeout inode": addresses as hex
            // HOST:PORT, the inode in the tenth column.
            for line in text.split(separator: "\n").dropFirst() {
                let columns = line.split(separator: " ")
                guard columns.count > 9 else { continue }
                let endpoints = columns[1...2].compactMap { $0.split(separator: ":").last.flatMap { Int($0, radix: 16) } }
                if endpoints.contains(where: ports.contains) { inodes.insert(String(columns[9])) }
            }
        }
        return descriptorTargets().filter { _, target in
            target.hasPrefix("socket:[") && inodes.contains(String(target.dropFirst(8).dropLast()))
        }
    }

    /// The resident set size in KiB (`VmRSS` of `/proc/self/status`); -1 when unknown.
    public static func residentKiB() -> Int { statusKiB("VmRSS:") }

    /// The anonymous part of the resident set in KiB (`RssAnon`: heap, stacks), without
    /// the pages of mapped files (code of the program and its libraries, `RssFile`),
    /// which grow as more of the code runs for the first time; -1 when unknown.
    public static func residentAnonymousKiB() -> Int { statusKiB("RssAnon:") }

    /// The peak resident set size in KiB (`VmHWM`) since the process started or since
    /// ``resetPeakResident()``; -1 when unknown.
    public static func peakResidentKiB() -> Int { statusKiB("VmHWM:") }

    /// Resets the peak (`VmHWM`) to the current resident size (`clear_refs` 5, Linux ≥ 4.0).
    public static func resetPeakResident() {
        let fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = write(fd, "5", 1)
        close(fd)
    }

    /// Bytes the C allocator has handed out and not had back (glibc's `mallinfo2`: every
    /// arena's in-use chunks plus its mmapped blocks): what the process holds, apart from
    /// the free memory the allocator keeps for reuse, which RSS counts too. -1 when unknown.
    public static func heapInUseBytes() -> Int {
        Int(directsmtp_heap_in_use_bytes())
    }

    /// Returns the allocator's free memory to the kernel (`malloc_trim(0)`, every arena):
    /// for telling memory the process holds from memory its allocator keeps.
    public static func trimHeap() {
        #if canImport(Glibc)
        _ = malloc_trim(0)
        #endif
    }

    private static func statusKiB(_ field: String) -> Int {
        guard let status = readText("/proc/self/status") else { return -1 }
        for line in status.split(separator: "\n")
        where line.hasPrefix(field) {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? -1
        }
        return -1
    }

    /// A whole (small, /proc) text file; nil when it cannot be opened.
    private static func readText(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
