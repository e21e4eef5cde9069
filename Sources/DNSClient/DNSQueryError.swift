/// Why a query got no usable answer: every case means "cannot tell" (scenario 1,
/// `dns-unavailable`), never "does not exist".
public struct DNSQueryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, stable across releases; new codes may be added.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The stable code text.
        public let rawValue: String
        /// Wraps a raw value.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The code text.
        public var description: String { rawValue }

        /// No server answered before the attempt or the caller's deadline ran out.
        public static let timedOut = Code(rawValue: "timed-out")
        /// A server answered SERVFAIL (or another failure RCODE: FORMERR, NOTIMP...).
        public static let serverFailure = Code(rawValue: "server-failure")
        /// A server answered REFUSED.
        public static let refused = Code(rawValue: "refused")
        /// A server could not be reached (ICMP port unreachable, no route, TCP refused).
        public static let unreachable = Code(rawValue: "unreachable")
        /// A server sent a referral (NS records, no answer, no SOA) instead of an answer:
        /// it does not recurse for us, and its reply says nothing about the name.
        public static let referral = Code(rawValue: "referral")
        /// A server sent an answer with our ID that cannot be decoded.
        public static let malformedResponse = Code(rawValue: "malformed-response")
        /// A CNAME chain longer than the bound (8), or a loop.
        public static let cnameChainTooLong = Code(rawValue: "cname-chain-too-long")
        /// The configuration lists no name server.
        public static let noNameservers = Code(rawValue: "no-nameservers")
        /// The waiting task was cancelled.
        public static let cancelled = Code(rawValue: "cancelled")
        /// A local failure (out of file descriptors, event loop down).
        public static let localFailure = Code(rawValue: "local-failure")
    }

    /// The stable code.
    public let code: Code
    /// A readable sentence, naming the server when there is one.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// A readable form.
    public var description: String { "\(message) (\(code))" }
}
