import DirectSMTP
import Foundation

/// Checks a ``QueueStore`` against the lease contract: every store's tests call it, the
/// built-in ones and yours. Each check works on an empty store and passes times in
/// (`now:`), so nothing really waits; a violation throws a ``Violation`` that names the
/// check and says what the store did.
///
/// ```swift
/// @Test(arguments: QueueStoreContract.Check.allCases)
/// func contract(_ check: QueueStoreContract.Check) async throws {
///     try await QueueStoreContract.run(check, on: MyStore(table: freshTable()))
/// }
/// // or all at once, a fresh store per check:
/// try await QueueStoreContract.checkAll { try await MyStore(table: freshTable()) }
/// ```
///
/// Dates used are whole seconds, so a store that keeps microseconds (PostgreSQL's
/// `timestamptz`) round-trips them exactly.
public enum QueueStoreContract {
    /// One rule of the contract.
    public enum Check: String, CaseIterable, Sendable, CustomStringConvertible {
        /// Enqueued entries come back from `list` field for field (binary data, flags,
        /// UTF-8, a missing `lastReason`).
        case enqueueAndList = "enqueue and list"
        /// A second entry with a stored id, leased or not, is refused with `duplicate-id`
        /// and changes nothing.
        case duplicateID = "duplicate id"
        /// `claimDue` gives only due, unleased entries, earliest due first, at most
        /// `limit`, each with a fresh lease until `now + leaseFor`; a second claim does
        /// not get them again.
        case claimDue = "claim due entries"
        /// A lease that expired lets another claim take the entry, with a new token.
        case leaseExpiryAndTakeover = "lease expiry and takeover"
        /// After a takeover, the old lease's complete / reschedule / giveUp / renew throw
        /// `lease-lost` and change nothing; the new lease works.
        case staleLeaseFenced = "stale lease fenced"
        /// `complete` removes the entry; the lease cannot act again.
        case complete = "complete"
        /// `reschedule` stores the new bookkeeping, keeps everything else, and releases
        /// the lease: claimable at its new due time, not before.
        case reschedule = "reschedule"
        /// `giveUp` removes the entry.
        case giveUp = "give up"
        /// `renew` moves the expiry; the entry stays out of claims until then.
        case renew = "renew"
        /// `purge` removes and returns old entries, except those under a live lease.
        case purge = "purge skips live leases"
        /// `enqueueLeased` stores an entry nobody can claim until its lease expires; its
        /// holder can settle it.
        case enqueueLeased = "enqueueLeased"
        /// Concurrent claims never hand one entry to two claimers.
        case concurrentClaims = "concurrent claims"
        /// A lease for an entry never stored, or forged, acts on nothing: `lease-lost`.
        case unknownLease = "unknown lease"
        /// `nextDueDate` is `nil` when empty, else the earliest time an entry can be
        /// claimed (its due time) or purged (its maximum age), a leased one not before its
        /// lease expires; it follows claims, renewals and settlements.
        case nextDueDate = "next due date"

        /// The check's name.
        public var description: String { rawValue }
    }

    /// A store broke the contract.
    public struct Violation: Error, CustomStringConvertible, Sendable {
        /// The rule broken.
        public let check: Check
        /// What the store did.
        public let message: String

        /// "contract check 'NAME' failed: MESSAGE".
        public var description: String { "contract check '\(check)' failed: \(message)" }
    }

    /// Runs every check, each on a fresh store from `makeStore`, then hands the store to
    /// `release` (to close it or drop its table). Throws the first violation.
    public static func checkAll(
        makeStore: @Sendable () async throws -> any QueueStore,
        release: @Sendable (any QueueStore) async -> Void = { _ in }
    ) async throws {
        for check in Check.allCases {
            let store = try await makeStore()
            do {
                try await run(check, on: store)
            } catch {
                await release(store)
                throw error
            }
            await release(store)
        }
    }

    /// Runs one check on `store`, which must be empty.
    public static func run(_ check: Check, on store: any QueueStore) async throws {
        let probe = Probe(check: check, store: store)
        let empty = try await store.list()
        try probe.expect(
            empty.isEmpty, "the store must start empty, it holds \(empty.count) entries")
        switch check {
        case .enqueueAndList: try await probe.enqueueAndList()
        case .duplicateID: try await probe.duplicateID()
        case .claimDue: try await probe.claimDue()
        case .leaseExpiryAndTakeover: try await probe.leaseExpiryAndTakeover()
        case .staleLeaseFenced: try await probe.staleLeaseFenced()
        case .complete: try await probe.complete()
        case .reschedule: try await probe.reschedule()
        case .giveUp: try await probe.giveUp()
        case .renew: try await probe.renew()
        case .purge: try await probe.purge()
        case .enqueueLeased: try await probe.enqueueLeased()
        case .concurrentClaims: try await probe.concurrentClaims()
        case .unknownLease: try await probe.unknownLease()
        case .nextDueDate: try await probe.nextDueDate()
        }
    }

    /// The base time of every check.
    static let epoch = Date(timeIntervalSince1970: 1_700_000_000)

    /// An entry created at `epoch + created` seconds, due at `epoch + due` seconds.
    static func entry(
        _ id: String, created: Double = 0, due: Double = 0, domain: String = "example.com"
    )
        -> QueueEntry
    {
        QueueEntry(
            id: id, from: "noreply@example.org", to: "user-\(id)@\(domain)",
            data: Array("Subject: code \(id)\r\n\r\n123456\r\n".utf8),
            messageID: "<\(id)@contract.test>",
            createdAt: epoch.addingTimeInterval(created),
            nextAttemptAt: epoch.addingTimeInterval(due), attempts: 1,
            lastReason: "temporary-failure")
    }

    static func at(_ seconds: Double) -> Date { epoch.addingTimeInterval(seconds) }
}

extension QueueStoreContract {
    /// The checks' bodies, sharing the store and the helpers.
    struct Probe {
        let check: Check
        let store: any QueueStore

        func violation(_ message: String) -> Violation { Violation(check: check, message: message) }

        func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
            if !condition { throw violation(message()) }
        }

        /// Runs `body`, which must throw a `QueueStoreError` with `code`.
        func expectError(
            _ code: QueueStoreError.Code, _ what: String, _ body: () async throws -> Void
        ) async throws {
            do {
                try await body()
            } catch let error as QueueStoreError {
                try expect(error.code == code, "\(what) threw code \(error.code), expected \(code)")
                return
            } catch {
                throw violation(
                    "\(what) threw \(error), expected a QueueStoreError with code \(code)")
            }
            throw violation("\(what) succeeded, expected code \(code)")
        }

        func listed() async throws -> [String: QueueEntry] {
            let all = try await store.list()
            var byID: [String: QueueEntry] = [:]
            for entry in all {
                try expect(byID[entry.id] == nil, "list returned \(entry.id) twice")
                byID[entry.id] = entry
            }
            return byID
        }

        func claimedIDs(_ claims: [ClaimedEntry]) -> [String] { claims.map(\.entry.id) }

        func expectLease(_ lease: QueueLease, on id: String, until expiry: Date, _ what: String)
            throws
        {
            try expect(
                lease.entryID == id, "\(what): lease names entry \(lease.entryID), expected \(id)")
            try expect(!lease.token.isEmpty, "\(what): lease token is empty")
            try expect(
                abs(lease.expiresAt.timeIntervalSince(expiry)) < 0.001,
                "\(what): lease expires at \(lease.expiresAt), expected \(expiry)")
        }

        // MARK: Checks

        func enqueueAndList() async throws {
            var binary = QueueStoreContract.entry("bin")
            binary.data = [0, 1, 0xFF, 0x0D, 0x0A, 0x2E, 0x80] + Array("é ✓".utf8)
            binary.requires8BitMIME = true
            binary.requiresSMTPUTF8 = true
            binary.to = "josé@exämple.com"
            binary.lastReason = nil
            binary.attempts = 7
            let plain = QueueStoreContract.entry("plain", created: 5, due: 300)
            try await store.enqueue(binary)
            try await store.enqueue(plain)
            let stored = try await listed()
            try expect(stored.count == 2, "list returned \(stored.count) entries, expected 2")
            try expect(
                stored["bin"] == binary,
                "entry 'bin' came back changed: \(String(describing: stored["bin"]))")
            try expect(
                stored["plain"] == plain,
                "entry 'plain' came back changed: \(String(describing: stored["plain"]))")
        }

        func duplicateID() async throws {
            let first = QueueStoreContract.entry("dup")
            try await store.enqueue(first)
            var second = QueueStoreContract.entry("dup", due: 99)
            second.to = "someone.else@example.com"
            try await expectError(.duplicateID, "enqueue of a stored id") {
                try await store.enqueue(second)
            }
            try await expectError(.duplicateID, "enqueueLeased of a stored id") {
                _ = try await store.enqueueLeased(
                    second, leaseFor: .seconds(60), now: QueueStoreContract.at(0))
            }
            let stored = try await listed()
            try expect(stored == ["dup": first], "a refused duplicate changed the store: \(stored)")
            let claims = try await store.claimDue(
                now: QueueStoreContract.at(0), limit: 10, leaseFor: .seconds(60))
            try expect(
                claimedIDs(claims) == ["dup"],
                "after a refused enqueueLeased the entry must stay claimable, got \(claimedIDs(claims))"
            )
        }

        func claimDue() async throws {
            try await store.enqueue(QueueStoreContract.entry("late", due: 30))
            try await store.enqueue(QueueStoreContract.entry("early", due: 10))
            try await store.enqueue(QueueStoreContract.entry("middle", due: 20))
            try await store.enqueue(QueueStoreContract.entry("future", due: 1000))
            let now = QueueStoreContract.at(100)
            let none = try await store.claimDue(now: now, limit: 0, leaseFor: .seconds(60))
            try expect(none.isEmpty, "claimDue with limit 0 claimed \(claimedIDs(none))")
            let first = try await store.claimDue(now: now, limit: 2, leaseFor: .seconds(60))
            try expect(
                claimedIDs(first) == ["early", "middle"],
                "claimDue(limit: 2) gave \(claimedIDs(first)), expected the two earliest due: [early, middle]"
            )
            for claim in first {
                try expectLease(
                    claim.lease, on: claim.entry.id, until: now.addingTimeInterval(60),
                    "claim of \(claim.entry.id)")
            }
            try expect(first[0].lease.token != first[1].lease.token, "two claims share a token")
            try expect(
                first[0].entry == QueueStoreContract.entry("early", due: 10),
                "the claimed entry differs from the stored one")
            let second = try await store.claimDue(now: now, limit: 10, leaseFor: .seconds(60))
            try expect(
                claimedIDs(second) == ["late"],
                "a second claim gave \(claimedIDs(second)), expected only [late] (leased and future entries excluded)"
            )
            let third = try await store.claimDue(now: now, limit: 10, leaseFor: .seconds(60))
            try expect(third.isEmpty, "a third claim gave \(claimedIDs(third)), expected nothing")
            let stored = try await listed()
            try expect(
                stored.count == 4, "list must show leased entries too: got \(stored.keys.sorted())")
            try expect(
                stored["early"]?.attempts == 1, "claiming must not change the entry's attempts")
        }

        func leaseExpiryAndTakeover() async throws {
            try await store.enqueue(QueueStoreContract.entry("a"))
            let first = try await store.claimDue(
                now: QueueStoreContract.at(0), limit: 1, leaseFor: .seconds(60))
            try expect(
                claimedIDs(first) == ["a"], "the due entry was not claimed: \(claimedIDs(first))")
            let during = try await store.claimDue(
                now: QueueStoreContract.at(59), limit: 1, leaseFor: .seconds(60))
            try expect(
                during.isEmpty,
                "an entry under a live lease was claimed again: \(claimedIDs(during))")
            let after = try await store.claimDue(
                now: QueueStoreContract.at(60), limit: 1, leaseFor: .seconds(30))
            try expect(
                claimedIDs(after) == ["a"],
                "an entry whose lease expired (expiresAt <= now) was not claimed again")
            try expect(
                after[0].lease.token != first[0].lease.token,
                "a takeover reused the expired lease's token")
            try expectLease(after[0].lease, on: "a", until: QueueStoreContract.at(90), "takeover")
        }

        func staleLeaseFenced() async throws {
            let entry = QueueStoreContract.entry("a")
            try await store.enqueue(entry)
            let old = try await store.claimDue(
                now: QueueStoreContract.at(0), limit: 1, leaseFor: .seconds(60))[0].lease
            let new = try await store.claimDue(
                now: QueueStoreContract.at(61), limit: 1, leaseFor: .seconds(60))
            try expect(claimedIDs(new) == ["a"], "takeover after expiry failed")
            try await expectError(.leaseLost, "complete with a stale lease") {
                try await store.complete(old)
            }
            try await expectError(.leaseLost, "reschedule with a stale lease") {
                try await store.reschedule(
                    old, attempts: 5, nextAttemptAt: QueueStoreContract.at(999), lastReason: "stale"
                )
            }
            try await expectError(.leaseLost, "giveUp with a stale lease") {
                try await store.giveUp(old, reason: "stale")
            }
            try await expectError(.leaseLost, "renew of a stale lease") {
                _ = try await store.renew(
                    old, leaseFor: .seconds(600), now: QueueStoreContract.at(62))
            }
            let stored = try await listed()
            try expect(stored == ["a": entry], "a stale lease changed the entry: \(stored)")
            let blocked = try await store.claimDue(
                now: QueueStoreContract.at(100), limit: 1, leaseFor: .seconds(60))
            try expect(
                blocked.isEmpty,
                "a stale lease's renew or reschedule released the new holder's lease")
            try await store.complete(new[0].lease)
            let after = try await listed()
            try expect(after.isEmpty, "the current lease's complete did not remove the entry")
        }

        func complete() async throws {
            try await store.enqueue(QueueStoreContract.entry("a"))
            try await store.enqueue(QueueStoreContract.entry("b"))
            let claims = try await store.claimDue(
                now: QueueStoreContract.at(0), limit: 1, leaseFor: .seconds(60))
            try await store.complete(claims[0].lease)
            let stored = try await listed()
            try expect(
                stored.keys.sorted() == ["b"], "complete left \(stored.keys.sorted()), expected [b]"
            )
            try await expectError(.leaseLost, "a second complete of the same lease") {
                try await store.complete(claims[0].lease)
            }
            try await expectError(.leaseLost, "reschedule after complete") {
                try await store.reschedule(
                    claims[0].lease, attempts: 2, nextAttemptAt: QueueStoreContract.at(5),
                    lastReason: nil)
            }
            let again = try await listed()
            try expect(
                again.keys.sorted() == ["b"], "a lease acting after complete brought the entry back"
            )
        }

        func reschedule() async throws {
            let entry = QueueStoreContract.entry("a")
            try await store.enqueue(entry)
            let lease = try await store.claimDue(
                now: QueueStoreContract.at(0), limit: 1, leaseFor: .seconds(600))[0].lease
            try await store.reschedule(
                lease, attempts: 2, nextAttemptAt: QueueStoreContract.at(300),
                lastReason: "greylisted")
            var expected = entry
            expected.attempts = 2
            expected.nextAttemptAt = QueueStoreContract.at(300)
            expected.lastReason = "greylisted"
            let stored = try await listed()
            try expect(
                stored == ["a": expected], "reschedule stored \(stored), expected \(expected)")
            let early = try await store.claimDue(
                now: QueueStoreContract.at(299), limit: 1, leaseFor: .seconds(60))
            try expect(early.isEmpty, "a rescheduled entry was claimed before its new due time")
            // Due again while the old lease would still run (600 s): released, so claimable.
            let due = try await store.claimDue(
                now: QueueStoreContract.at(300), limit: 1, leaseFor: .seconds(60))
            try expect(
                claimedIDs(due) == ["a"],
                "reschedule did not release the lease: the entry was not claimable at its new due time"
            )
            try expect(
                due[0].entry == expected, "the claimed entry lost the rescheduled bookkeeping")
            try await expectError(.leaseLost, "complete with the lease reschedule released") {
                try await store.complete(lease)
            }
            try await store.reschedule(
                due[0].lease, attempts: 3, nextAttemptAt: QueueStoreContract.at(900),
                lastReason: nil)
            let cleared = try await listed()
            try expect(
                cleared["a"]?.lastReason == nil,
                "reschedule with lastReason nil kept \(String(describing: cleared["a"]?.lastReason))"
            )
            try expect(cleared["a"]?.attempts == 3, "reschedule did not store attempts 3")
        }

        func giveUp() async throws {
            try await store.enqueue(QueueStoreContract.entry("a"))
            let lease = try await store.claimDue(
                now: QueueStoreContract.at(0), limit: 1, leaseFor: .seconds(60))[0].lease
            try await store.giveUp(lease, reason: "recipient-rejected")
            let stored = try await listed()
            try expect(stored.isEmpty, "giveUp left \(stored.keys.sorted())")
            try await expectError(.leaseLost, "giveUp again") {
                try await store.giveUp(lease, reason: "again")
            }
        }

        func renew() async throws {
            try await store.enqueue(QueueStoreContract.entry("a"))
            let lease = try await store.claimDue(
                now: QueueStoreContract.at(0), limit: 1, leaseFor: .seconds(60))[0].lease
            let renewed = try await store.renew(
                lease, leaseFor: .seconds(120), now: QueueStoreContract.at(50))
            try expect(renewed.token == lease.token, "renew changed the token")
            try expectLease(renewed, on: "a", until: QueueStoreContract.at(170), "renewed lease")
            let during = try await store.claimDue(
                now: QueueStoreContract.at(100), limit: 1, leaseFor: .seconds(60))
            try expect(
                during.isEmpty,
                "an entry was claimed after its original expiry although its lease was renewed")
            let after = try await store.claimDue(
                now: QueueStoreContract.at(170), limit: 1, leaseFor: .seconds(60))
            try expect(
                claimedIDs(after) == ["a"], "the renewed lease's expiry did not free the entry")
            try await expectError(.leaseLost, "complete with the renewed but taken-over lease") {
                try await store.complete(renewed)
            }
        }

        func purge() async throws {
            try await store.enqueue(QueueStoreContract.entry("old-free", created: 0, due: 0))
            try await store.enqueue(QueueStoreContract.entry("old-live", created: 1, due: 0))
            try await store.enqueue(QueueStoreContract.entry("old-expired", created: 2, due: 0))
            try await store.enqueue(QueueStoreContract.entry("young", created: 500, due: 5000))
            // Claim in due order (ties by creation): old-free is left unleased by completing
            // nothing; lease old-live for long and old-expired for short.
            let claims = try await store.claimDue(
                now: QueueStoreContract.at(10), limit: 3, leaseFor: .seconds(10))
            try expect(
                claimedIDs(claims).sorted() == ["old-expired", "old-free", "old-live"],
                "claim gave \(claimedIDs(claims))")
            let byID = Dictionary(uniqueKeysWithValues: claims.map { ($0.entry.id, $0.lease) })
            try await store.reschedule(
                byID["old-free"]!, attempts: 2, nextAttemptAt: QueueStoreContract.at(20),
                lastReason: "x")
            _ = try await store.renew(
                byID["old-live"]!, leaseFor: .seconds(1000), now: QueueStoreContract.at(10))
            // At 100: old-expired's lease (until 20) has expired, old-live's (until 1010) runs.
            let purged = try await store.purge(
                createdBefore: QueueStoreContract.at(100), now: QueueStoreContract.at(100))
            try expect(
                purged.map(\.id).sorted() == ["old-expired", "old-free"],
                "purge returned \(purged.map(\.id).sorted()), expected [old-expired, old-free]")
            let stored = try await listed()
            try expect(
                stored.keys.sorted() == ["old-live", "young"],
                "after purge the store holds \(stored.keys.sorted()), expected [old-live, young]")
            try await expectError(.leaseLost, "complete of a purged entry's expired lease") {
                try await store.complete(byID["old-expired"]!)
            }
            try await store.complete(byID["old-live"]!)
        }

        func enqueueLeased() async throws {
            let entry = QueueStoreContract.entry("held", created: 0, due: 0)
            let lease = try await store.enqueueLeased(
                entry, leaseFor: .seconds(120), now: QueueStoreContract.at(0))
            try expectLease(lease, on: "held", until: QueueStoreContract.at(120), "enqueueLeased")
            let stored = try await listed()
            try expect(
                stored == ["held": entry], "list must show the leased entry as stored: \(stored)")
            let during = try await store.claimDue(
                now: QueueStoreContract.at(119), limit: 10, leaseFor: .seconds(60))
            try expect(
                during.isEmpty, "an entry stored leased was claimed before its lease expired")
            let purged = try await store.purge(
                createdBefore: QueueStoreContract.at(50), now: QueueStoreContract.at(60))
            try expect(purged.isEmpty, "purge removed an entry under a live lease")
            try await store.reschedule(
                lease, attempts: 1, nextAttemptAt: QueueStoreContract.at(400),
                lastReason: "temporary-failure")
            let early = try await store.claimDue(
                now: QueueStoreContract.at(399), limit: 10, leaseFor: .seconds(60))
            try expect(early.isEmpty, "a settled held entry was claimed before its due time")
            let later = try await store.claimDue(
                now: QueueStoreContract.at(400), limit: 10, leaseFor: .seconds(60))
            try expect(
                claimedIDs(later) == ["held"], "the settled held entry was not claimable when due")

            let other = QueueStoreContract.entry("held2", created: 0, due: 0)
            let otherLease = try await store.enqueueLeased(
                other, leaseFor: .seconds(30), now: QueueStoreContract.at(0))
            let expired = try await store.claimDue(
                now: QueueStoreContract.at(30), limit: 10, leaseFor: .seconds(60))
            try expect(
                claimedIDs(expired) == ["held2"],
                "an entry stored leased was not claimable once its lease expired")
            try await expectError(.leaseLost, "complete by the held lease after a takeover") {
                try await store.complete(otherLease)
            }
        }

        func concurrentClaims() async throws {
            for index in 0..<10 {
                try await store.enqueue(QueueStoreContract.entry("c\(index)", due: Double(index)))
            }
            let store = self.store
            let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        try await store.claimDue(
                            now: QueueStoreContract.at(100), limit: 1, leaseFor: .seconds(60)
                        ).map(\.entry.id)
                    }
                }
                var all: [String] = []
                for try await ids in group { all += ids }
                return all
            }
            try expect(
                claimed.count == Set(claimed).count,
                "one entry was claimed twice by concurrent claims: \(claimed.sorted())")
            try expect(
                Set(claimed).count == 10,
                "20 concurrent claims of 1 got \(Set(claimed).count) of 10 due entries")
        }

        func unknownLease() async throws {
            try await store.enqueue(QueueStoreContract.entry("a"))
            let forged = QueueLease(
                entryID: "a", token: "forged", expiresAt: QueueStoreContract.at(1000))
            let missing = QueueLease(
                entryID: "missing", token: "forged", expiresAt: QueueStoreContract.at(1000))
            try await expectError(.leaseLost, "complete of an unleased entry with a forged token") {
                try await store.complete(forged)
            }
            try await expectError(.leaseLost, "complete of an entry never stored") {
                try await store.complete(missing)
            }
            try await expectError(.leaseLost, "renew of an entry never stored") {
                _ = try await store.renew(
                    missing, leaseFor: .seconds(1), now: QueueStoreContract.at(0))
            }
            let stored = try await listed()
            try expect(
                stored.keys.sorted() == ["a"],
                "a forged lease changed the store: \(stored.keys.sorted())")
        }

        func nextDueDate() async throws {
            func expectNext(
                _ expected: Double?, maxAge: Duration = .seconds(1_000_000), _ what: String
            ) async throws {
                let next = try await store.nextDueDate(maxAge: maxAge)
                let want = expected.map(QueueStoreContract.at)
                let close =
                    switch (next, want) {
                    case (nil, nil): true
                    case (let next?, let want?): abs(next.timeIntervalSince(want)) < 0.001
                    default: false
                    }
                try expect(
                    close,
                    "\(what): nextDueDate is \(String(describing: next)), expected "
                        + String(describing: want))
            }
            try await expectNext(nil, "empty store")
            try await store.enqueue(QueueStoreContract.entry("later", due: 100))
            try await store.enqueue(QueueStoreContract.entry("sooner", due: 50))
            try await expectNext(50, "two unleased entries")
            // Claimed at 60 until 160: claimable again at its expiry, after "later" is due.
            let claimed = try await store.claimDue(
                now: QueueStoreContract.at(60), limit: 10, leaseFor: .seconds(100))
            try expect(claimedIDs(claimed) == ["sooner"], "claim gave \(claimedIDs(claimed))")
            try await expectNext(100, "the earliest entry leased past the next one's due time")
            // Leased until 30 but due at 40: the later of the two.
            let held = try await store.enqueueLeased(
                QueueStoreContract.entry("held", due: 40), leaseFor: .seconds(30),
                now: QueueStoreContract.at(0))
            try await expectNext(40, "a leased entry due after its lease expires")
            _ = try await store.renew(held, leaseFor: .seconds(70), now: QueueStoreContract.at(10))
            try await expectNext(80, "a renewed lease")
            try await store.complete(held)
            try await expectNext(100, "after complete")
            try await store.reschedule(
                claimed[0].lease, attempts: 2, nextAttemptAt: QueueStoreContract.at(20),
                lastReason: "x")
            try await expectNext(20, "after reschedule released the lease")
            // Both created at 0: older than 10 s at 10, before either is due.
            try await expectNext(10, maxAge: .seconds(10), "entries expiring before they are due")
            // Leased until 200: not purgeable before, however old.
            let both = try await store.claimDue(
                now: QueueStoreContract.at(100), limit: 10, leaseFor: .seconds(100))
            try expect(both.count == 2, "claim gave \(claimedIDs(both))")
            try await expectNext(200, maxAge: .seconds(10), "expired entries under a lease")
        }
    }
}
