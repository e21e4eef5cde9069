// `coordinator --only starvation`: work nobody waits for must not delay work somebody
// waits for. Probes and sends of distinct recipients, C at a time with a short budget,
// against a mock server that holds every other RCPT for 5 s (past the budget and the
// RCPT timeout); the accepted counts of probes, of sends, and of probes with no
// per-destination limit must agree within 10 %.

import DNSClient
import DirectSMTP
import DirectSMTPTesting
import SMTPClient

enum StarvationBenchmark {
    static func run(calls: Int, concurrency: Int, budget: Duration, json: Bool) async throws
        -> Bool
    {
        var script = MockSMTPScript()
        script.recordsReads = false
        for index in 0..<calls where index % 2 == 1 {
            for kind in ["probe", "send", "free"] {
                script.recipients["\(kind)\(index)@hang.bench"] =
                    .reply(250, "2.1.5 OK").delayed(by: .seconds(5))
            }
        }
        let smtp = try MockSMTPServer.start(script)
        let dns = try MockDNSServer.start()
        defer {
            smtp.stop()
            dns.stop()
        }
        dns.setMX("hang.bench", [(10, "mx.hang.bench")])
        dns.setA("mx.hang.bench", ["127.0.0.1"])

        func coordinator(limit: Int) throws -> VerificationCoordinator {
            var configuration = VerificationCoordinator.Configuration(
                heloName: "client.bench", nameservers: [dns.address], smtpPort: smtp.port)
            configuration.dnsAttempts = 1
            configuration.refusesNonPublicAddresses = false  // the mock is on loopback
            configuration.probeCache = .disabled
            configuration.hostHealthPenalty = .zero
            configuration.concurrencyPerDestination = limit
            return try VerificationCoordinator(configuration: configuration)
        }
        let from = try EmailAddress("bench@client.bench")
        func accepted(_ kind: String, limit: Int) async throws -> (Int, Duration) {
            let coordinator = try coordinator(limit: limit)
            let start = ContinuousClock.now
            let run = await CoordinatorBenchmark.load(
                first: 0, calls: calls, concurrency: concurrency
            ) { index in
                guard let to = try? EmailAddress("\(kind)\(index)@hang.bench") else { return false }
                let outcome =
                    kind == "send"
                    ? await coordinator.send(
                        Message(from: from, to: to, subject: "x", text: "x"), budget: budget)
                    : await coordinator.probe(to, from: from, budget: budget)
                return outcome.reason == .accepted
            }
            return (calls - run.failures, start.duration(to: .now))
        }
        let (probes, probesTook) = try await accepted("probe", limit: 50)
        let (sends, sendsTook) = try await accepted("send", limit: 50)
        let (free, freeTook) = try await accepted("free", limit: 100_000)
        report(
            "coordinator-starvation",
            [
                "calls": calls, "concurrency": concurrency, "budgetMs": budget.milliseconds,
                "probesAccepted": probes, "sendsAccepted": sends,
                "probesAcceptedUnlimited": free,
                "probesSeconds": rounded(probesTook.seconds),
                "sendsSeconds": rounded(sendsTook.seconds),
                "unlimitedSeconds": rounded(freeTook.seconds),
            ], json: json)
        return Double(probes) < 0.9 * Double(sends) || Double(probes) < 0.9 * Double(free)
    }
}
