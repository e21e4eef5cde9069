import Foundation
import Testing

@testable import DirectSMTP

@Suite("Queue: journal recovery from damaged bytes")
struct QueueJournalCorruptionTests {
    /// A journal of `count` add records, and each record's byte range in the file.
    struct Fixture {
        let directory: QueueTestSupport.TemporaryDirectory
        let path: String
        let entries: [QueueEntry]
        let ranges: [Range<Int>]
        let bytes: [UInt8]

        static func make(count: Int = 20) async throws -> Fixture {
            let directory = try QueueTestSupport.TemporaryDirectory()
            let path = directory.file("queue.journal")
            let store = try await FileJournalQueueStore.open(path: path)
            var entries: [QueueEntry] = []
            var ranges: [Range<Int>] = []
            var offset = JournalRecord.fileHeader.count
            for index in 0..<count {
                // Bodies of different lengths, one of them holding the record magic "DSQJ".
                let body =
                    "Subject: \(index)\r\n\r\n"
                    + String(repeating: index == 5 ? "DSQJ" : "z", count: 40 + index * 7)
                let entry = QueueTestSupport.entry(id: "r\(index)", body: body)
                try await store.enqueue(entry)
                let size = JournalRecord.headerSize + JournalRecord.encodeEntry(entry).count
                entries.append(entry)
                ranges.append(offset..<(offset + size))
                offset += size
            }
            await store.close()
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(bytes.count == offset)
            return Fixture(
                directory: directory, path: path, entries: entries, ranges: ranges, bytes: bytes)
        }

        func write(_ bytes: [UInt8]) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }

        /// Opens the damaged journal, checks that every untouched record came back intact
        /// and nothing came back corrupt, and returns the report and the recovered ids.
        func recover(damaged: Range<Int>, sourceLocation: SourceLocation = #_sourceLocation)
            async throws -> (JournalRecoveryReport, Set<String>)
        {
            let store = try await FileJournalQueueStore.open(path: path)
            let loaded = try await store.list()
            let report = store.recovery
            await store.close()
            let byID = Dictionary(uniqueKeysWithValues: entries.map { ($0.id, $0) })
            for entry in loaded {
                #expect(
                    byID[entry.id] == entry, "recovered a corrupt entry \(entry.id)",
                    sourceLocation: sourceLocation)
            }
            let recovered = Set(loaded.map(\.id))
            for (index, range) in ranges.enumerated() where !range.overlaps(damaged) {
                #expect(
                    recovered.contains(entries[index].id), "lost intact record \(index)",
                    sourceLocation: sourceLocation)
            }
            // After recovery the journal is clean and holds the same entries.
            let again = try await FileJournalQueueStore.open(path: path)
            #expect(
                again.recovery.isClean, "second open not clean: \(again.recovery)",
                sourceLocation: sourceLocation)
            #expect(
                Set(try await again.list().map(\.id)) == recovered, sourceLocation: sourceLocation)
            await again.close()
            return (report, recovered)
        }
    }

    @Test(
        "a flipped byte in a record's payload costs that record only, and is reported",
        .timeLimit(.minutes(1)))
    func flippedPayload() async throws {
        let fixture = try await Fixture.make()
        defer { fixture.directory.remove() }
        var bytes = fixture.bytes
        let target = fixture.ranges[7].lowerBound + 30
        bytes[target] ^= 0x40
        try fixture.write(bytes)
        let (report, recovered) = try await fixture.recover(damaged: target..<(target + 1))
        #expect(recovered.count == 19)
        #expect(!recovered.contains("r7"))
        #expect(report.damagedRegions.count == 1)
        #expect(report.damagedRegions.first?.offset == fixture.ranges[7].lowerBound)
        #expect(report.hasCorruption)
        // The damaged original is kept for inspection.
        let copy = try #require(report.preservedCopyPath)
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: copy))) == bytes)
    }

    @Test(
        "damage in a record header (magic, kind, length, crc) costs that record only",
        .timeLimit(.minutes(1)), arguments: [0, 4, 5, 9, 13])
    func damagedHeader(offsetInHeader: Int) async throws {
        let fixture = try await Fixture.make()
        defer { fixture.directory.remove() }
        var bytes = fixture.bytes
        let target = fixture.ranges[12].lowerBound + offsetInHeader
        bytes[target] ^= 0x11
        try fixture.write(bytes)
        let (report, recovered) = try await fixture.recover(damaged: target..<(target + 1))
        #expect(recovered.count == 19)
        #expect(!report.damagedRegions.isEmpty)
    }

    @Test(
        "a truncated last record is a torn tail: cut off, everything before kept",
        .timeLimit(.minutes(1)), arguments: [1, 10, 16, 40])
    func truncated(keep: Int) async throws {
        let fixture = try await Fixture.make()
        defer { fixture.directory.remove() }
        let last = fixture.ranges[19]
        try fixture.write(Array(fixture.bytes[..<(last.lowerBound + keep)]))
        let (report, recovered) = try await fixture.recover(damaged: last)
        #expect(recovered.count == 19)
        #expect(report.tornTailBytes == keep)
        #expect(!report.hasCorruption)
        #expect(report.preservedCopyPath == nil)
        let size = try FileManager.default.attributesOfItem(atPath: fixture.path)[.size] as? Int
        #expect(size == last.lowerBound)
    }

    @Test(
        "garbage appended is damage (no record begins there): reported, kept aside, every record kept",
        .timeLimit(.minutes(1)))
    func garbageAppended() async throws {
        let fixture = try await Fixture.make()
        defer { fixture.directory.remove() }
        var garbage: [UInt8] = (0..<200).map { _ in UInt8.random(in: 0...255) }
        garbage[0] = 0x00  // not the first byte of a record magic
        garbage.replaceSubrange(50..<54, with: [0x44, 0x53, 0x51, 0x4A])  // a false magic
        garbage[54] = 0x09  // and no record kind after it
        try fixture.write(fixture.bytes + garbage)
        let (report, recovered) = try await fixture.recover(
            damaged: fixture.bytes.count..<(fixture.bytes.count + 200))
        #expect(recovered.count == 20)
        #expect(report.tornTailBytes == 0)
        #expect(report.damagedRegions.last == .init(offset: fixture.bytes.count, length: 200))
        #expect(report.preservedCopyPath != nil)
        #expect(!report.isClean)
    }

    @Test(
        "a flipped byte in the LAST record's payload, CRC or length is damage, kept aside like any other",
        .timeLimit(.minutes(1)), arguments: ["payload", "crc", "length", "length-high"])
    func damagedLastRecord(field: String) async throws {
        let fixture = try await Fixture.make()
        defer { fixture.directory.remove() }
        var bytes = fixture.bytes
        let last = fixture.ranges[19]
        let target: Int
        switch field {
        case "payload": target = last.lowerBound + JournalRecord.headerSize + 25
        case "crc": target = last.lowerBound + 13
        case "length": target = last.lowerBound + 8  // shorter or longer by a few bytes
        default: target = last.lowerBound + 10  // longer than the file by far
        }
        bytes[target] ^= 0x04
        try fixture.write(bytes)
        let (report, recovered) = try await fixture.recover(damaged: last)
        #expect(recovered.count == 19)
        #expect(!recovered.contains("r19"))
        #expect(report.tornTailBytes == 0, "\(report)")
        #expect(report.hasCorruption)
        #expect(report.damagedRegions.last?.offset == last.lowerBound)
        let copy = try #require(report.preservedCopyPath)
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: copy))) == bytes)
    }

    @Test("a damaged file header is reported; every record kept", .timeLimit(.minutes(1)))
    func damagedFileHeader() async throws {
        let fixture = try await Fixture.make()
        defer { fixture.directory.remove() }
        var bytes = fixture.bytes
        bytes[2] = 0
        try fixture.write(bytes)
        let (report, recovered) = try await fixture.recover(damaged: 0..<8)
        #expect(recovered.count == 20)
        #expect(report.headerDamaged)
    }

    @Test("a journal without its file header: header damaged, every record kept, no empty region")
    func missingFileHeader() {
        // Found by Fuzz/JournalRecoveryFuzzer: a zero-length damaged region at offset 0.
        let entry = QueueTestSupport.entry(id: "headless")
        let bytes = (try? JournalRecord.encode(.add, entry: entry)) ?? []
        let (scanner, table) = bytes.withUnsafeBytes { JournalScanner.scan($0) }
        #expect(scanner.report.headerDamaged)
        #expect(scanner.report.damagedRegions.isEmpty, "\(scanner.report.damagedRegions)")
        #expect(table.entries.map(\.id) == ["headless"])
    }

    @Test(
        "a zeroed block across several records costs only the records it touches",
        .timeLimit(.minutes(1)))
    func zeroedBlock() async throws {
        let fixture = try await Fixture.make()
        defer { fixture.directory.remove() }
        var bytes = fixture.bytes
        let damaged = (fixture.ranges[3].lowerBound + 20)..<(fixture.ranges[6].lowerBound + 5)
        for index in damaged { bytes[index] = 0 }
        try fixture.write(bytes)
        let (report, recovered) = try await fixture.recover(damaged: damaged)
        #expect(recovered.count == 16)
        #expect(report.damagedRegions.count == 1)
    }

    @Test(
        "random damage, 150 rounds: never a crash, never a corrupt entry, intact records kept",
        .timeLimit(.minutes(1)))
    func randomDamage() async throws {
        let fixture = try await Fixture.make(count: 12)
        defer { fixture.directory.remove() }
        for round in 0..<150 {
            var bytes = fixture.bytes
            var damagedLow = Int.max
            var damagedHigh = 0
            switch round % 3 {
            case 0:
                for _ in 0..<Int.random(in: 1...4) {
                    let index = Int.random(in: 8..<bytes.count)
                    bytes[index] ^= UInt8.random(in: 1...255)
                    damagedLow = min(damagedLow, index)
                    damagedHigh = max(damagedHigh, index + 1)
                }
            case 1:
                let cut = Int.random(in: 8..<bytes.count)
                bytes.removeLast(bytes.count - cut)
                damagedLow = cut
                damagedHigh = fixture.bytes.count
            default:
                let index = Int.random(in: 8..<bytes.count)
                let length = Int.random(in: 1...300)
                for offset in index..<min(index + length, bytes.count) {
                    bytes[offset] = UInt8.random(in: 0...255)
                }
                damagedLow = index
                damagedHigh = min(index + length, bytes.count)
            }
            try fixture.write(bytes)
            let (report, _) = try await fixture.recover(damaged: damagedLow..<damagedHigh)
            if bytes != fixture.bytes { #expect(!report.isClean || report.recordCount < 12) }
            // Start the next round from the undamaged journal (and drop kept copies).
            for name in try FileManager.default.contentsOfDirectory(atPath: fixture.directory.path)
            where name.contains(".damaged-") {
                try FileManager.default.removeItem(atPath: fixture.directory.file(name))
            }
        }
    }
}
