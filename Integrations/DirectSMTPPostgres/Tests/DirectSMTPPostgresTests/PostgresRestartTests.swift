import DirectSMTP
import DirectSMTPPostgres
import Foundation
import PostgresNIO
import Synchronization
import Testing

/// The server restarts (`pg_ctl restart`) while a worker enqueues, claims and completes: calls
/// fail with `database-unavailable` while it is down, and go on afterwards on new connections.
/// An enqueue either returned and is stored, or threw: never "queued" when it was not.
@Suite(
    .enabled(if: TestDatabase.isAvailable, TestDatabase.skipNote),
    .enabled(
        if: restartCommand != nil,
        "restarts the server under every other test: run alone, as scripts/ci.sh does (DIRECTSMTP_POSTGRES_RESTART_TESTS=1 scripts/with-postgres.sh swift test --filter PostgresRestartTests)"
    ),
    .serialized)
struct PostgresRestartTests {
    @Test func enqueuesAcrossARestartNeverClaimSuccessFalsely() async throws {
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client, operationTimeout: .seconds(5)) { store in
                let record = EnqueueRecord()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // Enqueue one after the other until 100 have succeeded after the restart
                        // (bounded: at most 2,000 tries, or 60 s).
                        var afterRestart = 0
                        let deadline = ContinuousClock.now + .seconds(60)
                        for index in 0..<2_000 where afterRestart < 100 && ContinuousClock.now < deadline {
                            let id = "r-\(index)"
                            do {
                                try await store.enqueue(sampleEntry(id))
                                record.state.withLock { $0.stored.append(id) }
                                if record.state.withLock({ $0.restarted }) { afterRestart += 1 }
                            } catch let error as QueueStoreError {
                                #expect(error.code == .databaseUnavailable, "\(error)")
                                record.state.withLock { $0.failed.append(id) }
                            }
                            try await Task.sleep(for: .milliseconds(2))
                        }
                        #expect(afterRestart == 100, "enqueues did not resume after the restart")
                    }
                    while record.state.withLock({ $0.stored.count }) < 50 { try await Task.sleep(for: .milliseconds(10)) }
                    try await runRestart()
                    record.state.withLock { $0.restarted = true }
                    try await group.waitForAll()
                }
                let (stored, failed) = record.state.withLock { ($0.stored, $0.failed) }
                let inTable = Set(try await store.list().map(\.id))
                // Every enqueue that returned is in the table.
                #expect(Set(stored).isSubset(of: inTable), "missing: \(Set(stored).subtracting(inTable).sorted())")
                // Nothing is there that was never tried; a failed one may or may not have
                // committed (the reply can be lost after the commit), never silently.
                #expect(inTable.isSubset(of: Set(stored).union(failed)))
                // Workers go on: claim and complete everything.
                var settled = 0
                while true {
                    let claims = try await store.claimDue(now: Date(), limit: 100, leaseFor: .seconds(60))
                    if claims.isEmpty { break }
                    for claim in claims { try await store.complete(claim.lease) }
                    settled += claims.count
                }
                #expect(settled == inTable.count)
            }
        }
    }

    @Test func aListenerListensAgainAfterARestart() async throws {
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client, operationTimeout: .seconds(5), pollInterval: .seconds(600)) { store in
                try await countingWakeUps(store.dueNotifications()) { wakeUps in
                    #expect(await wakeUps.wait(until: 1, within: .seconds(10)))
                    try await runRestart()
                    // Listening again yields once; let it settle, then a new enqueue must wake.
                    #expect(await wakeUps.wait(until: 2, within: .seconds(15)))
                    try await Task.sleep(for: .seconds(2))
                    let before = wakeUps.current
                    try await store.enqueue(sampleEntry("after-restart"))
                    #expect(await wakeUps.wait(until: before + 1, within: .seconds(10)))
                }
            }
        }
    }
}

/// What the enqueuer of the restart test saw.
final class EnqueueRecord: Sendable {
    struct State {
        var stored: [String] = []
        var failed: [String] = []
        var restarted = false
    }

    let state = Mutex(State())
}

/// The server's restart script, when restart tests were asked for (they disturb every other
/// test running at the same time).
let restartCommand: String? = {
    let environment = ProcessInfo.processInfo.environment
    guard environment["DIRECTSMTP_POSTGRES_RESTART_TESTS"] == "1" else { return nil }
    return environment["DIRECTSMTP_POSTGRES_RESTART"]
}()

/// Restarts the test server (fast shutdown: connections are cut) and waits until it is up.
func runRestart() async throws {
    guard let restartCommand else { return }
    let status = try await runProcess(restartCommand, [])
    #expect(status == 0, "the restart command exited with \(status)")
}

/// Runs a program to its end without blocking a thread of the pool; returns its exit status.
func runProcess(_ path: String, _ arguments: [String]) async throws -> Int32 {
    try await waitForExit(try spawnProcess(path, arguments))
}

/// Starts a program with `posix_spawn`, its output to /dev/null (or to the files named),
/// with this process's environment plus `environment`. Foundation's Process is not used:
/// its exit notification never came in this test process.
func spawnProcess(
    _ path: String, _ arguments: [String], stdout: String = "/dev/null", stderr: String? = nil,
    environment: [String: String] = [:]
) throws -> pid_t {
    var pid: pid_t = 0
    var merged = ProcessInfo.processInfo.environment
    merged.merge(environment) { $1 }
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for pointer in argv + envp { free(pointer) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    if let stderr {
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    }
    // The child starts with no signal blocked and default handlers: this process's threads
    // block some (pgbench -T, for one, ends on SIGALRM and would never stop).
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
    guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
    return pid
}

/// Reaps `pid` (`waitpid(WNOHANG)` between short sleeps, no thread blocked); returns its
/// exit status, or -1 if a signal ended it.
func waitForExit(_ pid: pid_t) async throws -> Int32 {
    var status: Int32 = 0
    while true {
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid { break }
        if result < 0 && errno != EINTR { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        try await Task.sleep(for: .milliseconds(50))
    }
    // WIFEXITED / WEXITSTATUS, which Glibc does not export to Swift.
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
}
