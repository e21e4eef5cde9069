import DirectSMTP
import Foundation

/// The entry the queue's SIGKILL test has its child process write for `id`, and then
/// expects to read back intact: one definition for both sides (the child is
/// `directsmtp-bench queue crash-child`, the checker `QueueCrashTests`).
package enum QueueCrashFixture {
    package static func entry(id: String) -> QueueEntry {
        let base = Date(timeIntervalSince1970: 1_700_000_000)
        let body =
            "Subject: code for \(id)\r\n\r\nYour code is \(id).\r\n"
            + String(repeating: "x", count: 6000) + "\r\n"
        return QueueEntry(
            id: id, from: "noreply@example.org", to: "user-\(id)@example.com",
            data: Array(body.utf8), messageID: "<\(id)@crash.test>",
            createdAt: base, nextAttemptAt: base.addingTimeInterval(300), attempts: 1,
            lastReason: "temporary-failure")
    }
}
