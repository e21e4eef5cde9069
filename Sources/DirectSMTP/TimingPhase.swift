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
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
