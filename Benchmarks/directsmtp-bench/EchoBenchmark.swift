// Placeholder until the benchmark lands.
enum EchoBenchmark { static func run(_ a: [String]) async -> Int32 { 0 } }
enum HoldBenchmark { static func run(_ a: [String]) async -> Int32 { 0 } }
