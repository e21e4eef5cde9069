// Shared by every benchmark: flag parsing, latency statistics, memory readings, output.

import Foundation

/// `--name value` flags and `--switch` switches of a benchmark's arguments.
struct BenchOptions {
    private var values: [String: String] = [:]
    private var switches: Set<String> = []

    init(_ arguments: [String]) {
        var index = 0
        while index < arguments.count {
            let name = arguments[index]
            index += 1
            if index < arguments.count, !arguments[index].hasPrefix("--") {
                values[name] = arguments[index]
                index += 1
            } else {
                switches.insert(name)
            }
        }
    }

    func int(_ name: String, default fallback: Int) -> Int { values[name].flatMap(Int.init) ?? fallback }
    func string(_ name: String) -> String? { values[name] }
    func has(_ name: String) -> Bool { switches.contains(name) }
}

/// Latencies of individual operations, summarised as percentiles.
struct LatencySummary {
    let count: Int
    let p50: Duration
    let p99: Duration
    let max: Duration

    init(_ samples: [Duration]) {
        let sorted = samples.sorted()
        count = sorted.count
        func at(_ fraction: Double) -> Duration {
            guard !sorted.isEmpty else { return .zero }
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
        }
        p50 = at(0.50)
        p99 = at(0.99)
        max = sorted.last ?? .zero
    }
}

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }

    var microseconds: Double { milliseconds * 1000 }
    var seconds: Double { milliseconds / 1000 }
}

/// Reads a `Vm*` line of /proc/self/status, in KiB (`VmRSS`, `VmHWM` = peak RSS).
func memoryKiB(_ field: String) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
    for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? -1
    }
    return -1
}

/// Prints a result: `key: value` lines for people, or one JSON object with `--json`.
func report(_ name: String, _ fields: KeyValuePairs<String, Any>, json: Bool) {
    if json {
        var object: [String: Any] = ["benchmark": name]
        // JSON has no infinity or NaN (a ratio against a side that did not run, with
        // `--side`): such a figure is null, not a report that silently prints nothing.
        for (key, value) in fields {
            if let number = value as? Double, !number.isFinite {
                object[key] = NSNull()
            } else {
                object[key] = value
            }
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        print(String(decoding: data, as: UTF8.self))
    } else {
        print(name)
        for (key, value) in fields {
            if let number = value as? Double {
                print("  \(key): \(String(format: "%.3f", number))")
            } else {
                print("  \(key): \(value)")
            }
        }
    }
}

/// Rounds to three decimals for JSON output.
func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
