/// A small parser for the subcommands' flags, shared by all of them: positionals, flags
/// with a value (`--dns HOST:PORT`, repeatable), and switches (`--json`).
///
/// ```swift
/// var arguments = try Arguments(rawArguments, valueFlags: ["--dns", "--budget"], switches: ["--json"])
/// let servers = arguments.values("--dns")
/// let json = arguments.has("--json")
/// ```
struct Arguments {
    struct UsageError: Error, CustomStringConvertible {
        let description: String
    }

    private(set) var positionals: [String] = []
    private var valued: [String: [String]] = [:]
    private var switched: Set<String> = []

    init(_ raw: [String], valueFlags: Set<String>, switches: Set<String>) throws(UsageError) {
        var index = 0
        while index < raw.count {
            let argument = raw[index]
            index += 1
            if argument == "--" {
                positionals.append(contentsOf: raw[index...])
                break
            }
            guard argument.hasPrefix("--") else {
                positionals.append(argument)
                continue
            }
            // Accept --flag=value as well as --flag value.
            var name = argument
            var inlineValue: String?
            if let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inlineValue = String(argument[argument.index(after: equals)...])
            }
            if valueFlags.contains(name) {
                if let inlineValue {
                    valued[name, default: []].append(inlineValue)
                } else {
                    guard index < raw.count else { throw UsageError(description: "\(name) needs a value") }
                    valued[name, default: []].append(raw[index])
                    index += 1
                }
            } else if switches.contains(name), inlineValue == nil {
                switched.insert(name)
            } else {
                throw UsageError(description: "unknown option \(argument)")
            }
        }
    }

    /// Every value given for a repeatable flag, in order.
    func values(_ flag: String) -> [String] { valued[flag] ?? [] }

    /// The last value given for a flag.
    func value(_ flag: String) -> String? { valued[flag]?.last }

    /// Whether a switch was given.
    func has(_ flag: String) -> Bool { switched.contains(flag) }

    /// A flag's value as seconds (`--budget 2.5`); `nil` when absent.
    func seconds(_ flag: String) throws(UsageError) -> Duration? {
        guard let text = value(flag) else { return nil }
        guard let seconds = Double(text), seconds.isFinite, seconds > 0, seconds <= 86_400 * 365 else {
            throw UsageError(description: "\(flag) takes a positive number of seconds, not '\(text)'")
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// A flag's value as a TCP/UDP port (1...65535); `nil` when absent.
    func port(_ flag: String) throws(UsageError) -> Int? {
        guard let text = value(flag) else { return nil }
        guard let port = Int(text), (1...65535).contains(port) else {
            throw UsageError(description: "\(flag) takes a port from 1 to 65535, not '\(text)'")
        }
        return port
    }
}
