import DNSClient

/// One DNS answer as SPF needs it, from whatever resolver the caller injects.
public enum SPFDNSAnswer: Sendable, Hashable {
    /// The records of the asked type (after CNAMEs).
    case records([DNSRecordData])
    /// NXDOMAIN.
    case nonExistent
    /// NOERROR without records of the type (NODATA).
    case noData
    /// No definite answer (timeout, SERVFAIL): the check ends in `temperror`.
    case failure(String)
}

/// Asks for records of a type at a name. Tests pass a table; ``SPFEvaluator/lookup(using:deadline:)``
/// bridges to the library's own resolver.
public typealias SPFLookup = @Sendable (_ name: String, _ type: DNSRecordType) async -> SPFDNSAnswer

extension SPFEvaluator {
    /// A lookup through `client` (each query bounded by `deadline`).
    public static func lookup(using client: DNSQueryClient, deadline: ContinuousClock.Instant)
        -> SPFLookup
    {
        { name, type in
            let dnsName: DNSName
            do {
                dnsName = try DNSName(name)
            } catch {
                return .nonExistent
            }
            do {
                let resolution = try await client.resolve(dnsName, type: type, deadline: deadline)
                if resolution.isNonExistent { return .nonExistent }
                if resolution.records.isEmpty { return .noData }
                return .records(resolution.records.map(\.data))
            } catch {
                return .failure("\(error)")
            }
        }
    }
}
