import Foundation
import FuzzDriver

// The scanner and the record format are internal to DirectSMTP: Fuzz/run.sh builds with
// -enable-testing for this import.
@testable import DirectSMTP

/// A damaged journal file: any bytes must scan without trapping into a report that
/// describes the file (regions in bounds, in order, apart); whatever was recovered, written
/// again as a fresh journal, must read back clean and the same; and that fresh journal cut
/// anywhere after its header (the first input byte picks where) must lose only the record
/// cut short, reported as a torn tail and never as damage.
@_cdecl("LLVMFuzzerTestOneInput")
public func journalRecoveryFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    let (scanner, table) = JournalScanner.scan(input)
    checkReport(scanner.report, validEnd: scanner.validEnd, size: input.count)
    guard scanner.report.entryCount == table.count else { fatalError("entryCount is not the table's") }

    // What was recovered, written again.
    var journal = JournalRecord.fileHeader
    var recordEnds: [Int] = []
    let recovered = table.entries.sorted { $0.id < $1.id }
    for entry in recovered {
        guard let record = try? JournalRecord.encode(.add, entry: entry) else {
            fatalError("a recovered entry cannot be written again")
        }
        journal += record
        recordEnds.append(journal.count)
    }
    let (again, againTable) = journal.withUnsafeBytes { JournalScanner.scan($0) }
    guard again.report.isClean, again.validEnd == journal.count else {
        fatalError("a journal written from recovered entries is not clean: \(again.report)")
    }
    let reread = againTable.entries.sorted { $0.id < $1.id }
    guard reread.count == recovered.count, zip(reread, recovered).allSatisfy(sameEntry) else {
        fatalError("entries changed when written again and read back")
    }

    // The same journal cut short after its header: a torn tail, never damage.
    let header = JournalRecord.fileHeader.count
    let cut = header + Int(input.first ?? 0) * (journal.count - header) / 255
    let kept = recordEnds.filter { $0 <= cut }
    let (torn, tornTable) = journal.prefix(cut).withUnsafeBytes { JournalScanner.scan($0) }
    let intactEnd = kept.last ?? header
    guard torn.report.damagedRegions.isEmpty, !torn.report.headerDamaged,
        torn.report.recordCount == kept.count, tornTable.count == kept.count,
        torn.report.tornTailBytes == cut - intactEnd, torn.validEnd == intactEnd
    else {
        fatalError("a journal cut at \(cut) of \(journal.count) is not a clean torn tail: \(torn.report)")
    }
    return 0
}

/// The report's invariants for a file of `size` bytes.
func checkReport(_ report: JournalRecoveryReport, validEnd: Int, size: Int) {
    guard report.fileSize == size, (0...size).contains(validEnd), (0...size).contains(report.tornTailBytes),
        report.recordCount >= 0, report.recordCount <= size / JournalRecord.headerSize
    else { fatalError("report out of bounds: \(report), validEnd \(validEnd)") }
    var previousEnd = 0
    for region in report.damagedRegions {
        guard region.offset >= previousEnd, region.length > 0, region.offset + region.length <= size else {
            fatalError("damaged regions out of order or bounds: \(report.damagedRegions)")
        }
        previousEnd = region.offset + region.length
    }
    guard previousEnd + report.tornTailBytes <= size else { fatalError("damage overlaps the torn tail: \(report)") }
}

/// Equal, but for the last bit of a date: `Date` keeps seconds since 2001, so seconds since
/// 1970 read back may differ by rounding.
func sameEntry(_ a: QueueEntry, _ b: QueueEntry) -> Bool {
    func close(_ x: Date, _ y: Date) -> Bool {
        let (u, v) = (x.timeIntervalSince1970, y.timeIntervalSince1970)
        return abs(u - v) <= max(abs(u), 1) * 1e-12
    }
    var c = b
    c.createdAt = a.createdAt
    c.nextAttemptAt = a.nextAttemptAt
    return a == c && close(a.createdAt, b.createdAt) && close(a.nextAttemptAt, b.nextAttemptAt)
}

@_cdecl("JournalRecoveryFuzzer_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?)
    -> CInt
{
    runFuzzer(argc, argv) { data, size in journalRecoveryFuzz(data, size) }
}
