import Foundation
import Testing

@testable import DirectSMTP

/// `directsmtp queue` on journals holding dates at the far ends of the range.
@Suite("Queue: directsmtp queue with far-off dates")
struct QueueCommandBoundsTests {
    @Test(
        "list and purge print entries dated 1e300 s away instead of trapping",
        .timeLimit(.minutes(1)))
    func farDates() async throws {
        let directory = try QueueTestSupport.TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("queue.journal")
        let store = try await FileJournalQueueStore.open(path: path)
        try await store.enqueue(
            QueueTestSupport.entry(
                id: "ancient", at: Date(timeIntervalSince1970: -1e300),
                nextAttemptAt: Date(timeIntervalSince1970: 1e300)))
        await store.close()

        let json = try await QueueCommandTests.directsmtp(
            ["queue", "list", "--queue", path, "--json"], in: directory)
        #expect(json.status == 0, "\(json.stderr)")
        let object =
            try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let entry = try #require((object?["entries"] as? [[String: Any]])?.first)
        #expect(entry["ageSeconds"] as? Int == 1_000_000_000_000_000)
        #expect(entry["nextAttemptSeconds"] as? Int == 1_000_000_000_000_000)

        let human = try await QueueCommandTests.directsmtp(
            ["queue", "list", "--queue", path], in: directory)
        #expect(human.status == 0, "\(human.stderr)")
        #expect(human.stdout.contains("ancient"))

        let purge = try await QueueCommandTests.directsmtp(
            ["queue", "purge", "--queue", path, "--json"], in: directory)
        #expect(purge.status == 0, "\(purge.stderr)")
        #expect(purge.stdout.contains(#""outcome":"expired""#))
    }
}
