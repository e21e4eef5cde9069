import Sockets

/// One address of one MX host: a contestant of the race.
///
/// A class: it is immutable, and the race, the attempts and the outcome pass it around
/// several times per call; a copy is then one reference count, not one per string and
/// array inside.
final class RaceCandidate: Sendable, Hashable {
    let host: MailExchanger
    let address: SocketAddress
    /// The candidate as outcomes report it. Made once here: formatting the address goes
    /// through `inet_ntop` (and `sprintf`) and allocates, and a call needs it four times
    /// or more (last host tried, winner, outcome, health memory).
    let used: MailExchangerUsed

    init(host: MailExchanger, address: SocketAddress) {
        self.host = host
        self.address = address
        self.used = MailExchangerUsed(host: host.name, ip: address.ip, preference: host.preference)
    }

    /// The numeric address, as the health memory keys it.
    var ip: String { used.ip }

    static func == (left: RaceCandidate, right: RaceCandidate) -> Bool {
        left.host == right.host && left.address == right.address
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(host)
        hasher.combine(address)
    }
}

/// What happened to one contestant.
struct RaceAttempt<Connection: SMTPConnection>: Sendable {
    enum End: Sendable, Hashable {
        /// Completed connect + greeting + EHLO first.
        case won
        /// `open()` failed with this result.
        case failed(SessionResult)
        /// Cancelled because another won (or the race was cancelled) after running this long.
        case lost(ranFor: Duration)
    }

    var candidate: RaceCandidate
    var connection: Connection
    var startedAt: ContinuousClock.Instant
    var end: End?
}

/// How a race ended.
enum RaceResult<Connection: SMTPConnection>: Sendable {
    /// `connection` is open and ready for MAIL; the caller owns it (and must close it).
    case won(Connection, RaceCandidate, attempts: [RaceAttempt<Connection>])
    /// Every candidate failed (or the race was cancelled); every connection is closed.
    case failed(attempts: [RaceAttempt<Connection>])
}

/// The MX race of DESIGN.md: start the first candidate, start the next one when the
/// previous has not produced a usable session within `stagger` or has failed; the first
/// to complete connect + greeting + EHLO wins, every other attempt is cancelled and its
/// connection closed. Only connections are raced, never transactions: the caller runs
/// MAIL/RCPT/DATA on the single winner, so a message cannot reach two servers.
enum MXRace {
    private enum Event<Connection: SMTPConnection>: Sendable {
        case opened(index: Int, result: SessionResult?)
        case tick(generation: Int)
    }

    /// Runs the race. Cancelling the calling task cancels every attempt and starts no new
    /// one; the result is then `.failed` (or `.won` if a winner came first).
    /// - Parameters:
    ///   - onStart: told of each candidate as it starts (for "last host tried").
    ///   - onWin: told of the winner the moment it is known, before the losers are
    ///     cancelled and awaited (the budget's phase changes then, not after the clean-up).
    ///   - patient: the dialer's long timeouts (the queue's re-sends).
    static func run<Dialer: SMTPDialer>(
        candidates: [RaceCandidate],
        stagger: Duration,
        dialer: Dialer,
        patient: Bool = false,
        onStart: @Sendable (RaceCandidate) -> Void = { _ in },
        onWin: @Sendable (RaceCandidate) -> Void = { _ in }
    ) async -> RaceResult<Dialer.Connection> {
        switch candidates.count {
        case 0:
            .failed(attempts: [])
        case 1:
            await runAlone(
                candidates[0], dialer: dialer, patient: patient, onStart: onStart, onWin: onWin)
        default:
            await runRace(
                candidates, stagger: stagger, dialer: dialer, patient: patient, onStart: onStart,
                onWin: onWin)
        }
    }

    /// One candidate, the usual case: nothing to race, so no task group and no stagger
    /// timer. A function of its own, with little kept across its suspension points: its
    /// async frame stays small, and is gone before the transaction (see
    /// `DeliveryEngine.attempt`).
    @inline(never)
    private static func runAlone<Dialer: SMTPDialer>(
        _ candidate: RaceCandidate,
        dialer: Dialer,
        patient: Bool,
        onStart: @Sendable (RaceCandidate) -> Void,
        onWin: @Sendable (RaceCandidate) -> Void
    ) async -> RaceResult<Dialer.Connection> {
        let connection = dialer.connection(to: candidate.address, patient: patient)
        let startedAt = ContinuousClock.now
        onStart(candidate)
        guard let failure = await connection.openForRace() else {
            onWin(candidate)
            return .won(
                connection, candidate,
                attempts: [
                    RaceAttempt(
                        candidate: candidate, connection: connection, startedAt: startedAt,
                        end: .won)
                ])
        }
        let end: RaceAttempt<Dialer.Connection>.End =
            Task.isCancelled ? .lost(ranFor: startedAt.duration(to: .now)) : .failed(failure)
        await connection.close()
        return .failed(attempts: [
            RaceAttempt(
                candidate: candidate, connection: connection, startedAt: startedAt, end: end)
        ])
    }

    /// Two candidates or more: the staggered race.
    @inline(never)  // its own frame, used only by a race of several hosts
    private static func runRace<Dialer: SMTPDialer>(
        _ candidates: [RaceCandidate],
        stagger: Duration,
        dialer: Dialer,
        patient: Bool,
        onStart: @Sendable (RaceCandidate) -> Void,
        onWin: @Sendable (RaceCandidate) -> Void
    ) async -> RaceResult<Dialer.Connection> {
        typealias Connection = Dialer.Connection
        return await withTaskGroup(of: Event<Connection>.self) { group in
            var attempts: [RaceAttempt<Connection>] = []
            var running = 0
            var generation = 0
            var startNext = true
            while true {
                if startNext, attempts.count < candidates.count, !Task.isCancelled {
                    startNext = false
                    let index = attempts.count
                    let candidate = candidates[index]
                    let connection = dialer.connection(to: candidate.address, patient: patient)
                    attempts.append(
                        RaceAttempt(candidate: candidate, connection: connection, startedAt: .now))
                    running += 1
                    onStart(candidate)
                    group.addTask { .opened(index: index, result: await connection.openForRace()) }
                    if attempts.count < candidates.count {
                        // A fresh stagger timer; earlier ones are stale by generation.
                        generation += 1
                        let current = generation
                        group.addTask {
                            do {
                                try await Task.sleep(for: stagger, tolerance: .milliseconds(1))
                                return .tick(generation: current)
                            } catch {
                                return .tick(generation: -1)
                            }
                        }
                    }
                }
                guard let event = await group.next() else { break }
                switch event {
                case .tick(let ticked):
                    if ticked == generation { startNext = true }
                case .opened(let index, nil):
                    attempts[index].end = .won
                    onWin(attempts[index].candidate)
                    group.cancelAll()
                    // Every other attempt ends promptly once cancelled; close each one,
                    // including one that completed EHLO a moment too late.
                    while let other = await group.next() {
                        // Whatever it answered once cancelled, it lost.
                        guard case .opened(let loser, _) = other else { continue }
                        attempts[loser].end = .lost(
                            ranFor: attempts[loser].startedAt.duration(to: .now))
                        let connection = attempts[loser].connection
                        Task { await connection.close() }
                    }
                    for loser in attempts.indices where attempts[loser].end == nil {
                        attempts[loser].end = .lost(
                            ranFor: attempts[loser].startedAt.duration(to: .now))
                    }
                    return .won(
                        attempts[index].connection, attempts[index].candidate, attempts: attempts)
                case .opened(let index, let result?):
                    running -= 1
                    let cancelled = Task.isCancelled
                    attempts[index].end =
                        cancelled
                        ? .lost(ranFor: attempts[index].startedAt.duration(to: .now))
                        : .failed(result)
                    await attempts[index].connection.close()
                    if attempts.count < candidates.count, !cancelled {
                        startNext = true  // a failure starts the next candidate at once
                    } else if running == 0 {
                        group.cancelAll()
                        return .failed(attempts: attempts)
                    }
                }
            }
            group.cancelAll()
            return .failed(attempts: attempts)
        }
    }
}
