#if canImport(Glibc)
import Glibc
#endif

/// sysexits(3) codes, as DESIGN.md's outcome table assigns them.
enum ExitCode {
    static let accepted: Int32 = 0
    /// EX_USAGE: bad arguments, bad address syntax.
    static let usage: Int32 = 64
    /// EX_DATAERR: a queue file that is not a journal.
    static let dataError: Int32 = 65
    /// EX_NOINPUT: a queue journal in a folder that does not exist.
    static let noInput: Int32 = 66
    /// EX_NOUSER: the server denied the recipient.
    static let recipientRejected: Int32 = 67
    /// EX_NOHOST: no mail server for the domain.
    static let noMailServer: Int32 = 68
    /// EX_UNAVAILABLE: the server refused us.
    static let senderRejected: Int32 = 69
    /// EX_SOFTWARE: a bug or an environment failure of our own.
    static let software: Int32 = 70
    /// EX_IOERR: a queue journal that cannot be read or written.
    static let ioError: Int32 = 74
    /// EX_TEMPFAIL: deferred; try again later.
    static let tempFail: Int32 = 75
}

/// Writes a line to standard error.
func printError(_ text: String) {
    var line = text
    if !line.hasSuffix("\n") { line += "\n" }
    // write(2) on fd 2 rather than the C `stderr` global, which Swift 6 rightly calls
    // shared mutable state.
    _ = Array(line.utf8).withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
