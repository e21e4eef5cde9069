import DNSClient
import Synchronization

/// The race candidates last made for each destination, reused while DNS names the same
/// hosts: the race needs a socket address and a reportable form (`MailExchangerUsed`,
/// whose `ip` is formatted text) for every MX address, and building them anew on every
/// call cost allocations and formatting each time, for the same few hosts.
///
/// Keyed by recipient domain. An entry holds the hosts it was made from and is used only
/// when the lookup names the very same hosts; the resolver shuffles hosts of equal
/// preference on every answer, so the same hosts in another order take the entry's
/// candidates in their order. An address literal names its one host itself, so its entry
/// needs no check. Bounded: a new domain beyond `capacity` empties the cache (a
/// rebuild per domain, once per `capacity` new domains; no entry is favoured).
final class RaceCandidateCache: Sendable {
    private struct Entry {
        /// What DNS named (`nil` for an address literal) and whether its answer was whole.
        var hosts: [MailHost]?
        var complete: Bool
        var list: RaceCandidateList
    }

    let capacity: Int
    private let entries = Mutex<[String: Entry]>([:])

    init(capacity: Int = 4096) {
        self.capacity = max(1, capacity)
    }

    /// The list made for `domain` from `hosts` (`nil`: the domain is an address literal),
    /// if it is cached.
    func list(for domain: String, hosts: [MailHost]?, complete: Bool) -> RaceCandidateList? {
        // Under the lock, one lookup and the retains of the copy; the comparisons after it.
        guard let entry = entries.withLock({ $0[domain] }), entry.complete == complete else {
            return nil
        }
        if entry.hosts == hosts { return entry.list }
        // The same hosts shuffled: the same candidates, in the hosts' new order. (Only
        // when some can be dialled: why none can names the last host seen.)
        guard let hosts, let made = entry.hosts, case .ready(let candidates) = entry.list,
            Self.isReordering(hosts, of: made)
        else { return nil }
        var reordered: [RaceCandidate] = []
        reordered.reserveCapacity(candidates.count)
        for host in hosts {
            reordered += candidates.lazy.filter { $0.host == host }
        }
        return .ready(reordered)
    }

    /// The list cached for `domain` and `hosts`, or the one `make` builds (outside the
    /// lock), then kept.
    func list(
        for domain: String, hosts: [MailHost]?, complete: Bool,
        orMake make: () -> RaceCandidateList
    ) -> RaceCandidateList {
        if let cached = list(for: domain, hosts: hosts, complete: complete) { return cached }
        let made = make()
        store(made, for: domain, hosts: hosts, complete: complete)
        return made
    }

    /// Keeps `list`, made for `domain` from `hosts`.
    func store(
        _ list: RaceCandidateList, for domain: String, hosts: [MailHost]?, complete: Bool
    ) {
        let dropped: [String: Entry] = entries.withLock { entries in
            var dropped: [String: Entry] = [:]
            if entries.count >= capacity, entries[domain] == nil {
                swap(&dropped, &entries)  // freed below, outside the lock
            }
            entries[domain] = Entry(hosts: hosts, complete: complete, list: list)
            return dropped
        }
        _ = dropped
    }

    /// Domains cached now (for tests).
    var count: Int { entries.withLock { $0.count } }

    /// Whether `hosts` are `made` in another order, with no host twice in either. Hosts
    /// of one domain are few: the pairwise comparison is cheaper than sets.
    static func isReordering(_ hosts: [MailHost], of made: [MailHost]) -> Bool {
        guard hosts.count == made.count, hosts.count <= 32 else { return false }
        for (index, host) in hosts.enumerated() {
            guard made.contains(host), !hosts[..<index].contains(host) else { return false }
        }
        return true
    }
}

/// What the race gets from the hosts DNS named.
enum RaceCandidateList: Sendable {
    /// Every dialable address, in the lookup's order (before the health memory's order).
    case ready([RaceCandidate])
    /// None can be dialled: the outcome's reason and detail.
    case none(OutcomeReason, detail: String?)
}
