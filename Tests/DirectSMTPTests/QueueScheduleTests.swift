import Foundation
import Testing

@testable import DirectSMTP

@Suite("Queue: retry schedule and clock")
struct QueueScheduleTests {
    @Test(
        "default backoff: 5 min, doubling, capped at 1 h",
        arguments: [
            (1, 300), (2, 600), (3, 1200), (4, 2400), (5, 3600), (6, 3600), (40, 3600), (0, 300),
        ])
    func defaultBackoff(attempts: Int, seconds: Int) {
        #expect(RetrySchedule.default.delay(afterAttempts: attempts) == .seconds(seconds))
    }

    @Test("configured backoff and its bounds")
    func configuredBackoff() {
        let schedule = RetrySchedule(
            firstRetry: .seconds(60), multiplier: 3, maxInterval: .seconds(1000),
            maxAge: .seconds(7200))
        #expect(schedule.delay(afterAttempts: 1) == .seconds(60))
        #expect(schedule.delay(afterAttempts: 2) == .seconds(180))
        #expect(schedule.delay(afterAttempts: 3) == .seconds(540))
        #expect(schedule.delay(afterAttempts: 4) == .seconds(1000))
        let start = QueueTestSupport.epoch
        #expect(schedule.nextAttempt(afterAttempts: 2, at: start) == start.addingTimeInterval(180))
        #expect(schedule.expiry(of: start) == start.addingTimeInterval(7200))
        // Nonsense is clamped, never a crash or a zero-gap retry loop below the first gap.
        let odd = RetrySchedule(
            firstRetry: .seconds(10), multiplier: 0.5, maxInterval: .seconds(1),
            maxAge: .seconds(-5))
        #expect(odd.multiplier == 1)
        #expect(odd.maxInterval == .seconds(10))
        #expect(odd.maxAge == .zero)
        #expect(odd.delay(afterAttempts: 5) == .seconds(10))
        #expect(RetrySchedule.default.maxAge == .seconds(86_400))
    }

    @Test(
        "the manual clock wakes sleepers when moved, and cancellation ends a sleep",
        .timeLimit(.minutes(1)))
    func manualClock() async throws {
        let clock = ManualQueueClock(now: QueueTestSupport.epoch)
        let target = QueueTestSupport.epoch.addingTimeInterval(3600)
        let sleeper = Task { try await clock.sleep(until: target) }
        #expect(await QueueTestSupport.eventually { clock.sleeperCount == 1 })
        clock.advance(by: .seconds(1800))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .seconds(1800))
        try await sleeper.value
        #expect(clock.now == target)

        let cancelled = Task { try await clock.sleep(until: target.addingTimeInterval(10)) }
        #expect(await QueueTestSupport.eventually { clock.sleeperCount == 1 })
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(clock.sleeperCount == 0)
        // A time already past returns at once.
        try await clock.sleep(until: QueueTestSupport.epoch)
    }

    @Test("CRC-32C check value")
    func crcCheckValue() {
        #expect(CRC32C.checksum("123456789") == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let whole = CRC32C.checksum(bytes)
        let split = CRC32C.checksum(
            Array(bytes[333...]), seed: CRC32C.checksum(Array(bytes[..<333])))
        #expect(whole == split)
    }

    @Test("QueueEntry round-trips through JSON (Codable) and the journal codec")
    func entryCodecs() throws {
        var entry = QueueTestSupport.entry(id: "e-1", to: "ünïcode@example.com")
        entry.requiresSMTPUTF8 = true
        entry.attempts = 3
        let json = try JSONEncoder().encode(entry)
        #expect(try JSONDecoder().decode(QueueEntry.self, from: json) == entry)
        let payload = JournalRecord.encodeEntry(entry)
        #expect(payload.withUnsafeBytes { JournalRecord.decodeEntry($0) } == entry)
        entry.lastReason = nil
        let bare = JournalRecord.encodeEntry(entry)
        #expect(bare.withUnsafeBytes { JournalRecord.decodeEntry($0) } == entry)
        // Every truncation of a payload is refused, never a trap.
        for cut in 0..<payload.count {
            #expect(Array(payload[..<cut]).withUnsafeBytes { JournalRecord.decodeEntry($0) } == nil)
        }
        #expect(entry.recipientDomain == "example.com")
    }
}
