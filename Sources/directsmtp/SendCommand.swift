/// `directsmtp send`: not built yet; its issue owns this file.
enum SendCommand {
    static func run(_ arguments: [String]) async -> Int32 {
        printError("directsmtp send: not implemented yet")
        return ExitCode.software
    }
}
