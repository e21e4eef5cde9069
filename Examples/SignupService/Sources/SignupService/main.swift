import Foundation
import Logging
import SignupApp

// The sign-up service: settings from the environment (see AppConfiguration), served until
// SIGINT or SIGTERM, then drained (the HTTP server first, then the mail queue).
do {
    let configuration = try AppConfiguration.fromEnvironment()
    let app = try await SignupApplication.build(configuration: configuration)
    try await app.application.runService()
} catch {
    FileHandle.standardError.write(Data("signup-service: \(error)\n".utf8))
    exit(70)
}
