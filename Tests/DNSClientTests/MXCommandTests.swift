import ChildProcess
import DNSClient
import DirectSMTPTesting
import Foundation
import Testing

extension DNSClientTests {
    /// Runs the built `directsmtp` executable against the mock server.
    @Suite
    struct MXCommandTests {
        /// `directsmtp` beside the test bundle (`.build/<triple>/debug/`).
        static let executable: URL? = {
            let me = URL(
                fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(
                    atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
            var directory = me.deletingLastPathComponent()
            for _ in 0..<4 {
                let candidate = directory.appendingPathComponent("directsmtp")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                directory = directory.deletingLastPathComponent()
            }
            return nil
        }()

        func run(_ arguments: [String]) async throws -> ChildRun {
            let executable = try #require(
                Self.executable,
                "directsmtp was not found next to the test bundle; run `swift build` first")
            return try await ChildProcess.run(executable.path, arguments)
        }

        @Test(
            .enabled(
                if: executable != nil, "the directsmtp executable is not built next to the tests"))
        func foundPrintsTheDocumentedJSON() async throws {
            try await withMockDNS { server in
                server.setMX("cli.example", [(10, "mx.cli.example")])
                server.setA("mx.cli.example", ["127.0.0.1"])
                server.setAAAA("mx.cli.example", ["::1"])
                let result = try await run([
                    "mx", "cli.example", "--dns", server.address.description, "--json",
                ])
                #expect(result.status == 0, "\(result.stderr)")
                #expect(
                    result.stdout == """
                        {"domain":"cli.example","records":[{"host":"mx.cli.example","preference":10,"addresses":["::1","127.0.0.1"]}],"nullMX":false,"implicit":false}\n
                        """)
            }
        }

        @Test(
            "Every MX record is listed; hosts beyond the resolver's limit have addresses null",
            .enabled(
                if: executable != nil, "the directsmtp executable is not built next to the tests"))
        func everyRecordIsListed() async throws {
            try await withMockDNS { server in
                let count = MXResolver.maximumMXHosts + 4
                server.setMX("many.example", (0..<count).map { (preference: $0, host: "mx\($0).many.example") })
                for index in 0..<count { server.setA("mx\(index).many.example", ["127.0.0.\(index + 1)"]) }
                // Asked (in the first batch) but without an address: an empty list.
                server.setA("mx3.many.example", [])
                let result = try await run(["mx", "many.example", "--dns", server.address.description, "--json"])
                #expect(result.status == 0, "\(result.stderr)")
                let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
                let records = try #require(object?["records"] as? [[String: Any]])
                #expect(records.map { $0["preference"] as? Int } == Array(0..<count))
                #expect(records.map { $0["host"] as? String } == (0..<count).map { "mx\($0).many.example" })
                #expect(records[0]["addresses"] as? [String] == ["127.0.0.1"])
                #expect(records[3]["addresses"] as? [String] == [])
                for record in records[MXResolver.maximumMXHosts...] {
                    #expect(record["addresses"] is NSNull, "\(record)")
                }
                let text = try await run(["mx", "many.example", "--dns", server.address.description])
                #expect(text.stdout.hasPrefix("many.example: 15 mail hosts, and 5 more MX records without addresses"))
                #expect(text.stdout.contains("mx3.many.example\t(no address)"))
                #expect(text.stdout.contains("mx19.many.example\t(addresses not looked up)"))
            }
        }

        @Test(
            .enabled(
                if: executable != nil, "the directsmtp executable is not built next to the tests"))
        func noMailServerExits68() async throws {
            try await withMockDNS { server in
                server.setNullMX("null.example")
                let result = try await run([
                    "mx", "null.example", "--dns", server.address.description, "--json",
                ])
                #expect(result.status == 68)
                #expect(
                    result.stdout
                        == "{\"domain\":\"null.example\",\"outcome\":\"rejected\",\"scenario\":3,\"reason\":\"no-mail-server\"}\n"
                )
            }
        }

        @Test(
            .enabled(
                if: executable != nil, "the directsmtp executable is not built next to the tests"))
        func dnsUnavailableExits75WithinTheBudget() async throws {
            try await withMockDNS { server in
                server.setBehavior(.silence, for: "quiet.example")
                let clock = ContinuousClock()
                let start = clock.now
                let result = try await run([
                    "mx", "quiet.example", "--dns", server.address.description, "--budget", "0.3",
                    "--json",
                ])
                #expect(result.status == 75)
                #expect(
                    result.stdout
                        == "{\"domain\":\"quiet.example\",\"outcome\":\"deferred\",\"scenario\":1,\"reason\":\"dns-unavailable\"}\n"
                )
                #expect(start.duration(to: clock.now) < .seconds(3))
            }
        }

        @Test(
            .enabled(
                if: executable != nil, "the directsmtp executable is not built next to the tests"))
        func humanOutputNamesTheHosts() async throws {
            try await withMockDNS { server in
                server.setA("implicit.example", ["127.0.0.7"])
                let result = try await run([
                    "mx", "implicit.example", "--dns", server.address.description,
                ])
                #expect(result.status == 0)
                #expect(result.stdout.contains("implicit.example"))
                #expect(result.stdout.contains("127.0.0.7"))
            }
        }

        @Test(
            .enabled(
                if: executable != nil, "the directsmtp executable is not built next to the tests"),
            arguments: [
                ["mx"], ["mx", "a.example", "b.example"],
                ["mx", "a..example", "--dns", "127.0.0.1:9"],
                ["mx", "a.example", "--dns", "dns.example:53"],
                ["mx", "a.example", "--budget", "-1"],
                ["mx", "a.example", "--bogus"],
            ])
        func badInputExits64(_ arguments: [String]) async throws {
            let result = try await run(arguments)
            #expect(result.status == 64, "\(result.stdout) \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
    }
}
