import Sockets
import Synchronization

/// Remembers MX addresses that just failed to answer (timed out, refused, or were still
/// silent when another host won the race: ``AttemptStateMachine`` says which), and for
/// `penalty` afterwards moves them to the end of the race order, so a blackholed primary
/// does not cost every call its stagger delay. Keyed by IP address; bounded in size.
final class HostHealthMemory: Sendable {
    private let penalty: Duration
    private let capacity: Int
    private let clock: @Sendable () -> ContinuousClock.Instant
    private let origin: ContinuousClock.Instant
    /// When each penalty ends, as the time since `origin` (as ``ProbeCache`` keeps its
    /// expiry times): `ContinuousClock.Instant` is not frozen, so a table of them had a
    /// layout known only at run time, and every function this memory's calls are inlined
    /// into (the attempt driver's) set up room for its instants on each call.
    private let penalized = Lock<[String: Duration]>([:])
    /// The table's size, kept under its lock and read without it: while nothing is
    /// remembered (the usual state) ordering and marking healthy take no lock at all.
    private let remembered = Atomic<Int>(0)
    private let sweepCount = Lock(0)

    init(
        penalty: Duration, capacity: Int = 10_000,
        clock: @escaping @Sendable () -> ContinuousClock.Instant
    ) {
        self.penalty = penalty
        self.capacity = capacity
        self.clock = clock
        self.origin = clock()
    }

    /// The clock's time, as the time since `origin`.
    private func now() -> Duration { origin.duration(to: clock()) }

    /// `ip` failed or was too slow: try it last until the penalty ends.
    func markUnhealthy(_ ip: String) {
        guard penalty > .zero else { return }
        let now = now()
        let swept = penalized.withLock { table -> Bool in
            var swept = false
            if table.count >= capacity, table[ip] == nil {
                // Expired entries out, and if still full an eighth of the capacity: one
                // sweep per capacity/8 new addresses, not a copy of the table on each.
                swept = true
                table = table.filter { $0.value > now }
                let excess = table.count - (capacity - max(1, capacity / 8))
                if excess > 0 {
                    for victim in Array(table.keys.prefix(excess)) { table[victim] = nil }
                }
            }
            table[ip] = now + penalty
            remembered.store(table.count, ordering: .relaxed)
            return swept
        }
        if swept { sweepCount.withLock { $0 += 1 } }
    }

    /// Addresses remembered now (expired ones included until swept).
    var count: Int { penalized.withLock { $0.count } }

    /// Full-table sweeps made so far.
    var sweeps: Int { sweepCount.withLock { $0 } }

    /// `ip` just completed EHLO: forget any penalty.
    func markHealthy(_ ip: String) {
        guard remembered.load(ordering: .relaxed) > 0 else { return }
        penalized.withLock { table in
            if !table.isEmpty {
                table[ip] = nil
                remembered.store(table.count, ordering: .relaxed)
            }
        }
    }

    /// Whether `ip` is being penalized now.
    func isUnhealthy(_ ip: String) -> Bool {
        guard remembered.load(ordering: .relaxed) > 0 else { return false }
        let now = now()
        return penalized.withLock { ($0[ip]).map { $0 > now } ?? false }
    }

    /// `candidates` with the penalized ones moved to the end, each group in its order.
    func ordered(_ candidates: [RaceCandidate]) -> [RaceCandidate] {
        guard remembered.load(ordering: .relaxed) > 0 else { return candidates }
        let now = now()
        let unhealthy: Set<String> = penalized.withLock { table in
            guard !table.isEmpty else { return [] }
            return Set(
                candidates.map(\.ip).filter { (table[$0]).map { $0 > now } ?? false })
        }
        guard !unhealthy.isEmpty else { return candidates }
        return candidates.filter { !unhealthy.contains($0.ip) }
            + candidates.filter { unhealthy.contains($0.ip) }
    }
}
