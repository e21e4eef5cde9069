import DirectSMTPTesting
import Foundation
import Sockets
import TestKeys
import Testing

/// `directsmtp doctor` against MockDNSServer and a mock SMTP port on loopback: each
/// check's pass, warn and fail paths, the exit code, the JSON shape and the time bounds.
@Suite("directsmtp doctor", .serialized, .timeLimit(.minutes(2)))
struct CLIDoctorTests {
    /// A sending side that passes every check: mail from app@client.test at 127.0.0.1,
    /// whose PTR is client.test; SPF, an Ed25519 DKIM key and DMARC published.
    final class World: Sendable {
        let dns: MockDNSServer
        let smtp: MockSMTPServer
        let directory: String
        let ed: String
        let rsa: String

        init() throws {
            dns = try MockDNSServer.start()
            smtp = try MockSMTPServer.start(MockSMTPScript())
            let keys = try CLIDKIMTests.keyFiles()
            directory = keys.directory
            ed = keys.ed
            rsa = keys.rsa
            dns.setMX("mx.test", [(10, "mx1.mx.test")])
            dns.setA("mx1.mx.test", ["127.0.0.1"])
            dns.setPTR("127.0.0.1", ["client.test"])
            dns.setA("client.test", ["127.0.0.1"])
            dns.setTXT("client.test", ["v=spf1 ip4:127.0.0.0/8 -all"])
            // RFC 8463's keys, the same as CLIDKIMTests writes.
            dns.setTXT("e1._domainkey.client.test", [TestKeys.rfc8463Ed25519Record])
            dns.setTXT("r1._domainkey.client.test", [TestKeys.rfc8463RSARecord])
            dns.setTXT("_dmarc.client.test", ["v=DMARC1; p=reject; adkim=s"])
        }

        func arguments(port: Int? = nil, helo: String = "client.test", keys: [(String, String)]? = nil) -> [String] {
            var arguments = [
                "doctor", "--from", "app@client.test", "--helo", helo, "--mx-domain", "mx.test",
                "--dns", "\(dns.address)", "--port", "\(port ?? smtp.port)", "--json",
            ]
            for (path, selector) in keys ?? [(ed, "e1")] {
                arguments += ["--dkim-key", path, "--dkim-selector", selector]
            }
            return arguments
        }

        func stop() {
            dns.stop()
            smtp.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// The doctor's own time-outs, which the time bounds below are derived from.
    enum SendingDoctorTimes {
        /// How long the port-25 check waits for a connection (the detail says "5.0 s").
        static let port25TimeOut = Duration.seconds(5)
    }

    struct Report {
        var status: Int32
        var checks: [(name: String, status: String, detail: String)]
        var elapsed: Duration

        func check(_ name: String) -> (status: String, detail: String) {
            let found = checks.first { $0.name == name }
            return (found?.status ?? "missing", found?.detail ?? "")
        }
    }

    static func doctor(_ arguments: [String]) async throws -> Report {
        let start = ContinuousClock.now
        let run = try await runCLI(arguments, limit: .seconds(20))
        let elapsed = start.duration(to: .now)
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run)")
        let checks = try #require(object["checks"] as? [[String: String]])
        return Report(
            status: run.status,
            checks: checks.map { ($0["name"] ?? "", $0["status"] ?? "", $0["detail"] ?? "") },
            elapsed: elapsed)
    }

    #if OpenSSL
        @Test func everythingPasses() async throws {
            let world = try World()
            defer { world.stop() }
            let report = try await Self.doctor(world.arguments())
            #expect(report.status == 0, "\(report.checks)")
            #expect(report.checks.map(\.name) == ["port25", "ptr", "helo", "spf", "dkim", "dmarc"])
            #expect(report.checks.allSatisfy { $0.status == "pass" }, "\(report.checks)")
            #expect(report.check("ptr").detail == "127.0.0.1 → client.test → 127.0.0.1")
            // No check waited out a time-out: a lookup's (2 s) would not pass, and the run
            // (the child's start at nice 19 included) ends before the port-25 check's 5 s one
            // could have. A sanitizer's slowness scaled.
            #expect(report.elapsed < TimingScale.scaled(SendingDoctorTimes.port25TimeOut))
        }

        @Test func dkimPaths() async throws {
            let world = try World()
            defer { world.stop() }
            // RSA 1024 matches but is weak: warn.
            var report = try await Self.doctor(world.arguments(keys: [(world.rsa, "r1")]))
            #expect(report.check("dkim").status == "warn")
            #expect(report.check("dkim").detail.contains("1024 bits"))
            #expect(report.status == 0)
            // The key published under e1 is not the RSA key: fail, with the record to publish.
            report = try await Self.doctor(world.arguments(keys: [(world.rsa, "e1")]))
            #expect(report.check("dkim").status == "fail")
            #expect(report.check("dkim").detail.contains("publish TXT \"v=DKIM1; k=rsa; p=MIGf"))
            #expect(report.status == 78)
            // Nothing published under this selector.
            report = try await Self.doctor(world.arguments(keys: [(world.ed, "missing")]))
            #expect(report.check("dkim").status == "fail")
            #expect(report.check("dkim").detail.contains("no key record at missing._domainkey.client.test"))
            // No key given: warn.
            report = try await Self.doctor(world.arguments(keys: []))
            #expect(report.check("dkim").status == "warn")
            #expect(report.status == 0)
        }

        @Test func spfPaths() async throws {
            let world = try World()
            defer { world.stop() }
            // Not authorized, but a DKIM key passes for the domain: warn.
            world.dns.setTXT("client.test", ["v=spf1 ip4:192.0.2.1 -all"])
            var report = try await Self.doctor(world.arguments())
            #expect(report.check("spf").status == "warn", "\(report.checks)")
            #expect(report.check("spf").detail.contains("ip4:127.0.0.1"))
            // The same without a DKIM key: fail.
            report = try await Self.doctor(world.arguments(keys: []))
            #expect(report.check("spf").status == "fail")
            #expect(report.status == 78)
            // No SPF record at all.
            world.dns.setRecords([], for: "client.test", type: .txt)
            report = try await Self.doctor(world.arguments(keys: []))
            #expect(report.check("spf").status == "fail")
            #expect(report.check("spf").detail.hasPrefix("none"))
            // A broken record fails even with DKIM.
            world.dns.setTXT("client.test", ["v=spf1 include:nowhere.test -all"])
            report = try await Self.doctor(world.arguments())
            #expect(report.check("spf").status == "fail")
            #expect(report.check("spf").detail.hasPrefix("permerror"))
        }
    #endif

    @Test func dmarcOfTheOrganizationalDomain() async throws {
        let world = try World()
        defer { world.stop() }
        // No record at _dmarc.news.eu.client.test: the tree walk finds client.test's, and
        // its sp= governs subdomains.
        world.dns.setTXT("_dmarc.client.test", ["v=DMARC1; p=reject; sp=quarantine"])
        var arguments = world.arguments(keys: [])
        arguments[arguments.firstIndex(of: "app@client.test")!] = "app@news.eu.client.test"
        var report = try await Self.doctor(arguments)
        #expect(report.check("dmarc").status == "pass", "\(report.check("dmarc"))")
        #expect(report.check("dmarc").detail.contains("no record at _dmarc.news.eu.client.test; client.test's applies to it"))
        #expect(report.check("dmarc").detail.contains("sp=quarantine"))
        // A record on the way up wins over the one above it.
        world.dns.setTXT("_dmarc.eu.client.test", ["v=DMARC1; p=none"])
        report = try await Self.doctor(arguments)
        #expect(report.check("dmarc").detail.contains("eu.client.test's applies to it (DMARC tree walk): p=none"))
        // None anywhere up to the top-level domain: a warning, as before.
        world.dns.setRecords([], for: "_dmarc.client.test", type: .txt)
        world.dns.setRecords([], for: "_dmarc.eu.client.test", type: .txt)
        report = try await Self.doctor(arguments)
        #expect(report.check("dmarc").status == "warn")
        #expect(report.check("dmarc").detail.contains("at _dmarc.news.eu.client.test"))
    }

    @Test func ptrHeloAndDMARCPaths() async throws {
        let world = try World()
        defer { world.stop() }
        // A PTR that does not resolve back; a HELO name elsewhere; no DMARC.
        world.dns.setPTR("127.0.0.1", ["other.test"])
        world.dns.setA("other.test", ["127.0.0.9"])
        world.dns.setRecords([], for: "_dmarc.client.test", type: .txt)
        var report = try await Self.doctor(world.arguments(helo: "other.test", keys: []))
        #expect(report.check("ptr").status == "fail")
        #expect(report.check("ptr").detail.contains("not forward-confirmed"))
        #expect(report.check("helo").status == "warn")
        #expect(report.check("dmarc").status == "warn")
        #expect(report.status == 78)
        // No PTR at all; a HELO name without an address.
        world.dns.setRecords([], for: "1.0.0.127.in-addr.arpa", type: .ptr)
        report = try await Self.doctor(world.arguments(helo: "nowhere.test", keys: []))
        #expect(report.check("ptr").status == "fail")
        #expect(report.check("ptr").detail.contains("has no PTR record"))
        #expect(report.check("helo").status == "fail")
        #expect(report.check("helo").detail.contains("has no address"))
        // Answers, not time-outs: the details above say so, and the run ends before the
        // port-25 check's time-out could have.
        #expect(report.elapsed < TimingScale.scaled(SendingDoctorTimes.port25TimeOut))
    }

    @Test func port25Refused() async throws {
        let world = try World()
        defer { world.stop() }
        let closed = try TCPListener.bind(to: SocketAddress(ip: "127.0.0.1", port: 0))
        let port = closed.localAddress.port
        closed.close()
        let report = try await Self.doctor(world.arguments(port: port, keys: []))
        #expect(report.status == 78)
        #expect(report.check("port25").status == "fail")
        #expect(report.check("port25").detail.contains("refused"))
        #expect(report.check("ptr").status == "warn")
        // Refused at once: before the time-out that a blackholed port waits for.
        #expect(report.elapsed < TimingScale.scaled(SendingDoctorTimes.port25TimeOut))
    }

    @Test func port25TimesOut() async throws {
        let world = try World()
        defer { world.stop() }
        let blackhole = try await LoopbackHost.start(.blackholed, ip: "127.0.0.2", port: world.smtp.port)
        defer { blackhole.stop() }
        world.dns.setA("mx1.mx.test", ["127.0.0.2"])
        let report = try await Self.doctor(world.arguments(port: blackhole.address.port, keys: []))
        #expect(report.status == 78)
        #expect(report.check("port25").status == "fail")
        #expect(report.check("port25").detail.contains("timed out after 5.0 s (egress probably blocked by your provider"))
        #expect(report.elapsed < .seconds(10))
    }

    @Test func usageErrors() async throws {
        let run = try await runCLI(["doctor", "--helo", "client.test"])
        #expect(run.status == 64)
        #expect(run.stderr.contains("--from is required"))
        let bad = try await runCLI(["doctor", "--from", "a@client.test", "--dkim-key", "/nonexistent.pem", "--dkim-selector", "s"])
        #expect(bad.status == 64)
    }
}
