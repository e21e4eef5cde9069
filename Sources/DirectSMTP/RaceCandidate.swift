import DNSClient
import Sockets

/// One address of one MX host: a contestant of the race.
///
/// A class: it is immutable, and the race, the attempts and the outcome pass it around
/// several times per call; a copy is then one reference count, not one per string and
/// array inside.
final class RaceCandidate: Sendable, Hashable {
    let host: MailHost
    let address: SocketAddress
    /// The candidate as outcomes report it. Made once here: formatting the address goes
    /// through `inet_ntop` (and `sprintf`) and allocates, and a call needs it four times
    /// or more (last host tried, winner, outcome, health memory).
    let used: MailExchangerUsed

    init(host: MailHost, address: SocketAddress) {
        self.host = host
        self.address = address
        self.used = MailExchangerUsed(host: host.name, ip: address.ip, preference: host.preference)
    }

    /// The numeric address, as the health memory keys it.
    var ip: String { used.ip }

    static func == (left: RaceCandidate, right: RaceCandidate) -> Bool {
        left.host == right.host && left.address == right.address
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(host)
        hasher.combine(address)
    }
}

/// What the race gets from the hosts DNS named.
enum RaceCandidateList: Sendable {
    /// Every dialable address, in the lookup's order (before the health memory's order).
    case ready([RaceCandidate])
    /// None can be dialled: the outcome's reason and detail.
    case none(OutcomeReason, detail: String?)
}
