/// The result of an SPF check (RFC 7208 §2.6).
public enum SPFResult: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// No SPF record (or no valid domain to check).
    case none
    /// The record makes no assertion about this address (`?` or no match).
    case neutral
    /// The address is authorized.
    case pass
    /// The address is not authorized (`-`).
    case fail
    /// Probably not authorized (`~`).
    case softfail
    /// A transient DNS error; a later check may succeed.
    case temperror
    /// The record is broken (syntax, several records, more than 10 lookups, more than
    /// 2 void lookups, a loop).
    case permerror

    /// The raw value, e.g. `softfail`.
    public var description: String { rawValue }
}

/// What an SPF check found: the result and why, in a sentence.
public struct SPFEvaluation: Sendable, Hashable {
    /// The result.
    public var result: SPFResult
    /// Which term decided, or what was wrong (`matched ip4:192.0.2.0/24 in example.com`).
    public var explanation: String
    /// DNS lookups the check counted against the limit of 10.
    public var lookups: Int
    /// Lookups that found nothing (NXDOMAIN or no records), limited to 2.
    public var voidLookups: Int

    /// An evaluation.
    public init(result: SPFResult, explanation: String, lookups: Int = 0, voidLookups: Int = 0) {
        self.result = result
        self.explanation = explanation
        self.lookups = lookups
        self.voidLookups = voidLookups
    }
}
