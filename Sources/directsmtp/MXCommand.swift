/// `directsmtp mx`: not built yet; its issue owns this file.
enum MXCommand {
    static func run(_ arguments: [String]) async -> Int32 {
        printError("directsmtp mx: not implemented yet")
        return ExitCode.software
    }
}
