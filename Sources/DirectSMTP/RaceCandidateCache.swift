import Synchronization

/// The race candidates last made for each destination, reused while DNS names the same
/// hosts: the race needs a socket address and a reportable form (`MailExchangerUsed`,
/// whose `ip` is formatted text) for every MX address, and building them anew on every
/// call cost allocations and formatting each time, for the same few hosts.
///
/// Keyed by recipient domain. An entry holds the hosts it was made from and is used only
/// when the lookup names the very same hosts in the same order (the resolver shuffles
/// equal preferences, so such a domain is rebuilt when its order changes); an address
/// literal names its one host itself, so its entry needs no check. Bounded: a new domain
/// beyond `capacity` evicts an arbitrary one.
final class RaceCandidateCache: Sendable {
    private struct Entry {
        /// What DNS named (`nil` for an address literal) and whether its answer was whole.
        var hosts: [MailExchanger]?
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
    func list(for domain: String, hosts: [MailExchanger]?, complete: Bool) -> RaceCandidateList? {
        entries.withLock { entries in
            guard let entry = entries[domain], entry.complete == complete, entry.hosts == hosts
            else { return nil }
            return entry.list
        }
    }

    /// Keeps `list`, made for `domain` from `hosts`.
    func store(
        _ list: RaceCandidateList, for domain: String, hosts: [MailExchanger]?, complete: Bool
    ) {
        entries.withLock { entries in
            if entries.count >= capacity, entries[domain] == nil {
                entries.remove(at: entries.startIndex)
            }
            entries[domain] = Entry(hosts: hosts, complete: complete, list: list)
        }
    }

    /// Domains cached now (for tests).
    var count: Int { entries.withLock { $0.count } }
}

/// What the race gets from the hosts DNS named.
enum RaceCandidateList: Sendable {
    /// Every dialable address, in the lookup's order (before the health memory's order).
    case ready([RaceCandidate])
    /// None can be dialled: the outcome's reason and detail.
    case none(OutcomeReason, detail: String?)
}
