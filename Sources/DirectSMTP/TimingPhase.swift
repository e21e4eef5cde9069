/// A phase of an attempt whose duration ``VerificationOutcome/timings`` reports. The raw
/// values are the keys of the JSON `timings` object; `allCases` is their output order.
public enum TimingPhase: String, Sendable, Hashable, CaseIterable, Comparable {
    /// The MX (and address) lookup.
    case dns
    /// TCP connect to the winning host.
    case connect
    /// Waiting for the 220 greeting.
    case greeting
    /// EHLO (and its reply).
    case ehlo
    /// HELO, when EHLO was refused.
    case helo
    /// MAIL FROM.
    case mail
    /// RCPT TO.
    case rcpt
    /// DATA (the command and its 354).
    case data
    /// The message, the final dot and its reply.
    case endOfData = "end-of-data"

    /// Phases order as they happen in a session (DNS first, end of data last).
    public static func < (lhs: TimingPhase, rhs: TimingPhase) -> Bool {
        lhs.order < rhs.order
    }

    /// Hashes the case, not its raw value: an enum with raw values otherwise hashes its
    /// `String` (the standard library's default for `RawRepresentable`), on every access
    /// to a timings dictionary, several per call.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(order)
    }

    /// The place in `allCases`.
    private var order: UInt8 {
        switch self {
        case .dns: 0
        case .connect: 1
        case .greeting: 2
        case .ehlo: 3
        case .helo: 4
        case .mail: 5
        case .rcpt: 6
        case .data: 7
        case .endOfData: 8
        }
    }
}
