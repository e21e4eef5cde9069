/// `directsmtp queue`: not built yet; its issue owns this file.
enum QueueCommand {
    static func run(_ arguments: [String]) async -> Int32 {
        printError("directsmtp queue: not implemented yet")
        return ExitCode.software
    }
}
