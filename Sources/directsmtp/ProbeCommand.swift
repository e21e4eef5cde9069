/// `directsmtp probe`: not built yet; its issue owns this file.
enum ProbeCommand {
    static func run(_ arguments: [String]) async -> Int32 {
        printError("directsmtp probe: not implemented yet")
        return ExitCode.software
    }
}
