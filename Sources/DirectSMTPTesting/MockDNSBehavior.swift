/// How ``MockDNSServer`` answers one name and type.
///
/// ```swift
/// server.setBehavior(.servfail, for: "broken.example", type: .mx)
/// server.setBehavior(.delayed(.milliseconds(300), .answer), for: "slow.example")
/// server.setBehavior(.sequence([.servfail, .answer]), for: "flaky.example", type: .mx)
/// ```
public indirect enum MockDNSBehavior: Sendable, Hashable {
    /// Answer from the records set: the records (CNAMEs followed, as a recursive server
    /// does), or NODATA with an SOA when the name has other records, or NXDOMAIN with an
    /// SOA when it has none. The default.
    case answer
    /// NXDOMAIN with an SOA in the authority section.
    case nxdomain
    /// RCODE SERVFAIL.
    case servfail
    /// RCODE REFUSED.
    case refused
    /// No answer at all.
    case silence
    /// The given behavior after a delay.
    case delayed(Duration, MockDNSBehavior)
    /// Over UDP a TC answer with no records; over TCP the full answer.
    case truncated
    /// Only an answer (NXDOMAIN) with another ID: the client should time out.
    case wrongID
    /// First an NXDOMAIN with another ID, then, a little later, the real answer.
    case wrongIDThenAnswer
    /// Only an answer (NXDOMAIN) whose question names another name.
    case otherName
    /// First an NXDOMAIN for another name (right ID), then the real answer.
    case otherNameThenAnswer
    /// First an NXDOMAIN with the right ID and question from a second socket (another
    /// source port), then the real answer from the server's own socket.
    case wrongSourceThenAnswer
    /// Exactly these bytes.
    case raw([UInt8])
    /// These bytes with the first two replaced by the query's ID (garbage that passes
    /// the ID check).
    case rawWithQueryID([UInt8])
    /// The n-th query gets the n-th behavior; the last one repeats.
    case sequence([MockDNSBehavior])
}
