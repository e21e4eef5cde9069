import DirectSMTP
import DirectSMTPPostgres
import Foundation
import Testing

/// Group commit: concurrent calls share one statement and one commit, yet each caller hears
/// its own outcome, and fencing still holds row by row.
@Suite(.enabled(if: TestDatabase.isAvailable, TestDatabase.skipNote))
struct PostgresGroupCommitTests {
    @Test func concurrentEnqueuesEachHearTheirOwnOutcome() async throws {
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client, prefix: "group") { store in
                try await store.enqueue(sampleEntry("stored-before"))
                // 40 callers at once: one id stored before, one id given twice among them.
                let ids = (0..<38).map { "e-\($0)" } + ["stored-before", "e-5"]
                let outcomes = await withTaskGroup(of: (String, QueueStoreError.Code?).self) { group in
                    for id in ids {
                        group.addTask {
                            do {
                                try await store.enqueue(sampleEntry(id))
                                return (id, nil)
                            } catch let error as QueueStoreError {
                                return (id, error.code)
                            } catch {
                                return (id, .databaseError)
                            }
                        }
                    }
                    return await group.reduce(into: [(String, QueueStoreError.Code?)]()) { $0.append($1) }
                }
                let failed = outcomes.filter { $0.1 != nil }
                #expect(failed.map(\.0).sorted() == ["e-5", "stored-before"], "\(failed)")
                #expect(failed.allSatisfy { $0.1 == .duplicateID }, "\(failed)")
                let stored = try await store.list().map(\.id)
                #expect(stored.count == 39)
                #expect(Set(stored) == Set(ids))
            }
        }
    }

    @Test func aBadEntryInABatchFailsOnlyItsOwnCaller() async throws {
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client, prefix: "group") { store in
                // PostgreSQL's text cannot hold NUL: the batch statement fails on this entry,
                // and the store tries the batch's entries one by one.
                var bad = sampleEntry("bad")
                bad.from = "no\u{0}reply@example.org"
                let entries = (0..<9).map { sampleEntry("good-\($0)") } + [bad]
                let failures = await withTaskGroup(of: String?.self) { group in
                    for entry in entries {
                        group.addTask { (try? await store.enqueue(entry)) == nil ? entry.id : nil }
                    }
                    return await group.compactMap { $0 }.reduce(into: [String]()) { $0.append($1) }
                }
                #expect(failures == ["bad"])
                let stored = try await store.list()
                #expect(stored.count == 9)
            }
        }
    }

    /// Claims that wait for their flush (the claim function's other branch) claim the same.
    @Test func claimsThatWaitForTheirFlush() async throws {
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client, prefix: "group") { store in
                var configuration = store.configuration
                configuration.claimsWaitForFlush = true
                let flushing = try PostgresQueueStore(client: client, configuration: configuration)
                try await flushing.enqueue(sampleEntry("f-0"))
                let claimed = try await flushing.claimDue(now: sampleEpoch, limit: 5, leaseFor: .seconds(30))
                #expect(claimed.map(\.entry.id) == ["f-0"])
                #expect(try await flushing.claimDue(now: sampleEpoch, limit: 5, leaseFor: .seconds(30)).isEmpty)
            }
        }
    }

    @Test func aBatchCompleteFencesEachEntry() async throws {
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client, prefix: "group") { store in
                for index in 0..<4 { try await store.enqueue(sampleEntry("c-\(index)", due: Double(index))) }
                let now = sampleEpoch.addingTimeInterval(10)
                let first = try await store.claimDue(now: now, limit: 4, leaseFor: .seconds(30)).map(\.lease)
                #expect(first.count == 4)
                // The first two leases expire and another worker takes those entries over.
                let later = now.addingTimeInterval(31)
                let takeover = try await store.claimDue(now: later, limit: 2, leaseFor: .seconds(30)).map(\.lease)
                #expect(takeover.map(\.entryID) == ["c-0", "c-1"])

                let lost = try await store.complete(first)
                #expect(lost == Array(first.prefix(2)), "only the stale leases fail, and the caller learns which")
                #expect(try await store.list().map(\.id) == ["c-0", "c-1"])
                // Single calls, concurrently (one batch): the stale ones fail, the live ones act.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for lease in first.prefix(2) {
                        group.addTask { await expectStoreError(.leaseLost) { try await store.complete(lease) } }
                    }
                    for lease in takeover { group.addTask { try await store.complete(lease) } }
                    try await group.waitForAll()
                }
                #expect(try await store.list().isEmpty)
                #expect(try await store.complete([]) == [])
            }
        }
    }

    @Test func aBatchRescheduleFencesEachEntry() async throws {
        try await TestDatabase.withClient { client in
            try await TestDatabase.withFreshStore(client, prefix: "group") { store in
                for index in 0..<3 { try await store.enqueue(sampleEntry("r-\(index)", due: Double(index))) }
                let now = sampleEpoch.addingTimeInterval(10)
                let first = try await store.claimDue(now: now, limit: 3, leaseFor: .seconds(30)).map(\.lease)
                let takeover = try await store.claimDue(now: now.addingTimeInterval(31), limit: 1, leaseFor: .seconds(30))
                #expect(takeover.map(\.entry.id) == ["r-0"])
                let next = sampleEpoch.addingTimeInterval(3600)
                let lost = try await store.reschedule(
                    first.map { PostgresQueueStore.Rescheduling(lease: $0, attempts: 7, nextAttemptAt: next, lastReason: $0.entryID == "r-1" ? "greylisted" : nil) })
                #expect(lost == [first[0]])
                let byID = Dictionary(uniqueKeysWithValues: try await store.list().map { ($0.id, $0) })
                #expect(byID["r-0"]?.attempts == sampleEntry("r-0").attempts, "the stale lease changed nothing")
                #expect(byID["r-1"]?.attempts == 7)
                #expect(byID["r-1"]?.lastReason == "greylisted")
                #expect(byID["r-2"]?.lastReason == nil)
                #expect(byID["r-2"]?.nextAttemptAt == next)
                // Released; the taken-over entry keeps its new lease.
                let unleased = try await TestDatabase.sql(
                    "SELECT id FROM \"\(store.table)\" WHERE lease_token IS NULL ORDER BY id", on: client)
                #expect(try unleased.map { try $0.decode(String.self) } == ["r-1", "r-2"])
            }
        }
    }
}
