import SMTPClient

/// An outcome's per-phase durations as stored: those measured here (DNS), then one
/// session's own table by SMTP step, turned into a table by ``TimingPhase`` only when
/// read.
///
/// Most callers never read the timings, and converting a session's table on every call
/// cost a dictionary built, filled and freed. Equality and hashing are those of the table
/// read, however it is stored.
struct Timings: Sendable {
    /// Phases measured here; they win over the session's for the same phase.
    private var phases: [TimingPhase: Duration]
    /// The session's steps, converted when read.
    private var steps: [SMTPStep: Duration]?

    /// A table made already.
    init(_ phases: [TimingPhase: Duration] = [:]) {
        self.phases = phases
    }

    /// A session's table, converted when read.
    init(steps: [SMTPStep: Duration]) {
        self.phases = [:]
        self.steps = steps.isEmpty ? nil : steps
    }

    /// Every phase's duration: a step's time counts in its phase (AUTH with EHLO; QUIT,
    /// never awaited, nowhere).
    var all: [TimingPhase: Duration] {
        guard let steps else { return phases }
        var all: [TimingPhase: Duration] = [:]
        all.reserveCapacity(steps.count + phases.count)
        for (step, duration) in steps {
            guard let phase = TimingPhase(step) else { continue }
            all[phase, default: .zero] += duration
        }
        all.merge(phases) { _, measuredHere in measuredHere }
        return all
    }

    /// Sets one phase's duration (over the session's, if it has one).
    mutating func set(_ duration: Duration, for phase: TimingPhase) {
        phases[phase] = duration
    }
}

extension Timings: Hashable {
    static func == (left: Timings, right: Timings) -> Bool { left.all == right.all }

    func hash(into hasher: inout Hasher) { hasher.combine(all) }
}

extension TimingPhase {
    /// The phase an SMTP step's time counts in (AUTH with EHLO); `nil` for QUIT.
    init?(_ step: SMTPStep) {
        switch step {
        case .connect: self = .connect
        case .greeting: self = .greeting
        case .ehlo, .auth: self = .ehlo
        case .helo: self = .helo
        case .mail: self = .mail
        case .rcpt: self = .rcpt
        case .data: self = .data
        case .endOfData: self = .endOfData
        case .quit: return nil
        }
    }
}
