import DKIM

/// `--dkim-key PATH --dkim-selector NAME [--dkim-domain DOMAIN]`, repeatable, shared by
/// `send` and `doctor`: the n-th key goes with the n-th selector; a single `--dkim-domain`
/// applies to every pair, otherwise one per pair; without it the From domain signs. Every
/// key is read and checked here, before any traffic: a failure is a usage error (64).
struct DKIMOptions {
    static let valueFlags: Set<String> = ["--dkim-key", "--dkim-selector", "--dkim-domain"]

    /// One key as given, loaded.
    struct Entry {
        var path: String
        var key: DKIMPrivateKey
        var signer: DKIMSigner
    }

    var entries: [Entry] = []

    var signers: [DKIMSigner] { entries.map(\.signer) }

    init(_ arguments: Arguments) throws(Arguments.UsageError) {
        let keys = arguments.values("--dkim-key")
        let selectors = arguments.values("--dkim-selector")
        let domains = arguments.values("--dkim-domain")
        guard keys.count == selectors.count else {
            throw Arguments.UsageError(
                description: "give one --dkim-selector for each --dkim-key (\(keys.count) keys, \(selectors.count) selectors)")
        }
        guard domains.count <= 1 || domains.count == keys.count, keys.count > 0 || domains.isEmpty else {
            throw Arguments.UsageError(
                description: "give --dkim-domain once, or once for each --dkim-key")
        }
        for (index, path) in keys.enumerated() {
            let domain = domains.count == 1 ? domains[0] : (domains.isEmpty ? nil : domains[index])
            do {
                let key = try DKIMPrivateKey(contentsOf: path)
                let signer = try DKIMSigner(key: key, selector: selectors[index], domain: domain)
                entries.append(Entry(path: path, key: key, signer: signer))
            } catch {
                throw Arguments.UsageError(description: "--dkim-key \(path): \(error.message)")
            }
        }
    }
}
