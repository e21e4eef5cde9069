// A queue worker process for the multi-process tests: one DeliveryQueue on the PostgreSQL
// store, re-sending through a coordinator to a mock SMTP server on loopback, until it is
// killed or its time is up.
//
//   directsmtp-postgres-test-worker TABLE SMTP_PORT LEASE_SECONDS MAX_SECONDS
//
// The database is DIRECTSMTP_POSTGRES_URL.
import DirectSMTP
import DirectSMTPPostgres
import Foundation
import PostgresNIO

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("directsmtp-postgres-test-worker: \(message)\n".utf8))
    exit(2)
}

let arguments = CommandLine.arguments.dropFirst()
guard arguments.count == 4, let smtpPort = Int(arguments[arguments.startIndex + 1]),
    let leaseSeconds = Int(arguments[arguments.startIndex + 2]), let maxSeconds = Int(arguments[arguments.startIndex + 3]),
    (1...600).contains(maxSeconds)
else { fail("usage: directsmtp-postgres-test-worker TABLE SMTP_PORT LEASE_SECONDS MAX_SECONDS") }
let table = arguments[arguments.startIndex]
guard let urlText = ProcessInfo.processInfo.environment["DIRECTSMTP_POSTGRES_URL"] else { fail("no DIRECTSMTP_POSTGRES_URL") }

do {
    let url = try PostgresConnectionURL(urlText)
    var configuration = try url.clientConfiguration()
    configuration.options.maximumConnections = 4
    var logger = Logger(label: "worker")
    logger.logLevel = .critical
    let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    var mail = VerificationCoordinator.Configuration(heloName: "worker.directsmtp.test", smtpPort: smtpPort)
    mail.refusesNonPublicAddresses = false  // the mock SMTP server is on loopback
    let coordinator = try VerificationCoordinator(configuration: mail)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        let store = try PostgresQueueStore(
            client: client, configuration: .init(table: table, pollInterval: .milliseconds(500), logger: logger))
        let queue = DeliveryQueue(
            store: store, limits: .init(maxConcurrentDeliveries: 8, maxConcurrentPerDomain: 8),
            leaseDuration: .seconds(leaseSeconds))
        group.addTask { await queue.run { entry in await coordinator.redeliver(entry) } }
        try await Task.sleep(for: .seconds(maxSeconds))
        group.cancelAll()
    }
} catch {
    fail("\(error)")
}
