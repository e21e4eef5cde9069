// directsmtp-postgres: every `directsmtp` command, with the queue in PostgreSQL when
// `--queue` is a postgresql:// URL (a path is a journal file, as in `directsmtp`).
//
//   directsmtp-postgres send --to ADDR --from ADDR --queue postgresql://app@db:5432/app
//   directsmtp-postgres queue list --queue postgresql://app@db:5432/app --json
//
// The table is `directsmtp_queue`, or DIRECTSMTP_POSTGRES_TABLE. Output, JSON and exit
// codes are those of `directsmtp` (the commands are the same code: DirectSMTPCommandLine).

import DirectSMTPCommandLine
import Foundation

let table = ProcessInfo.processInfo.environment["DIRECTSMTP_POSTGRES_TABLE"] ?? "directsmtp_queue"
exit(
    await CommandLineTool.run(
        Array(CommandLine.arguments.dropFirst()), queueStores: PostgresQueueLocation.opener(table: table)))
