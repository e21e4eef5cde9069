/// A question: which name, type and class the query asks about.
public struct DNSQuestion: Sendable, Hashable {
    /// The name asked about.
    public var name: DNSName
    /// The type asked for.
    public var type: DNSRecordType
    /// The class, normally ``DNSClass/internet``.
    public var recordClass: DNSClass

    /// A question; class IN unless given.
    public init(name: DNSName, type: DNSRecordType, recordClass: DNSClass = .internet) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
    }
}
