import Foundation
import Hummingbird
import SignupApp
import SignupMockWorld

// The sign-up service against mock DNS and SMTP servers on loopback, for the browser test
// and for trying the pages by hand. Nothing leaves 127.0.0.0/8. Besides the service's own
// routes it serves `GET /_mock/code?email=ADDRESS`: the code in the last message the mock
// SMTP server received for ADDRESS (what the member would read in their inbox).
//
//     SIGNUP_PORT=8080 swift run signup-demo
//
// The database and journal go to a temporary directory unless SIGNUP_DATABASE and
// SIGNUP_QUEUE_JOURNAL say otherwise.
do {
    let world = try MockWorld.start()
    defer { world.stop() }
    let environment = ProcessInfo.processInfo.environment
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("signup-demo-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var configuration = AppConfiguration(
        mailer: world.mailerSettings(
            journalPath: environment["SIGNUP_QUEUE_JOURNAL"] ?? "\(directory)/mail.journal"))
    configuration.databasePath = environment["SIGNUP_DATABASE"] ?? "\(directory)/signups.sqlite"
    if let port = environment["SIGNUP_PORT"].flatMap(Int.init) { configuration.port = port }
    configuration.logLevel = AppConfiguration.logLevel(environment)
    let app = try await SignupApplication.build(configuration: configuration) { router in
        router.get("/_mock/code") { request, _ in
            guard let email = request.uri.queryParameters.get("email"),
                let code = world.lastCode(for: email)
            else { throw HTTPError(.notFound, message: "no message for this address") }
            return code
        }
    }
    print(
        "signup-demo: http://\(configuration.host):\(configuration.port)/ (mock DNS \(world.dns.address), mock SMTP 127.0.0.1:\(world.smtp.port))"
    )
    fflush(nil)
    try await app.application.runService()
} catch {
    FileHandle.standardError.write(Data("signup-demo: \(error)\n".utf8))
    exit(70)
}
