import Foundation
import DirectSMTP
import DirectSMTPTesting
import SMTPClient
import Testing

/// A deferred send goes into the queue before `send` returns, and the queue re-sends it
/// through the coordinator.
@Suite("Coordinator and queue", .timeLimit(.minutes(1)))
struct CoordinatorQueueTests {
    /// Sends with a 1 s budget to `to` (an address literal: no DNS in the way, whatever
    /// the machine's load), whose RCPT is answered `rcpt` after 3 s.
    private func sendOutlivingBudget(
        _ coordinator: VerificationCoordinator, _ world: MockWorld, to: String,
        rcpt: MockSMTPResponse
    ) async throws -> VerificationOutcome {
        world.smtp.update { $0.recipients[to] = rcpt.delayed(by: .seconds(3)) }
        return await coordinator.send(try welcome(to), budget: .seconds(1))
    }

    /// A coordinator with an in-memory queue store in its configuration: the queue is
    /// made with it and re-sends through it.
    private func coordinatorWithQueue(
        _ world: MockWorld, schedule: RetrySchedule = .default
    ) throws -> (VerificationCoordinator, DeliveryQueue) {
        var configuration = world.configuration()
        configuration.queueStore = InMemoryQueueStore()
        configuration.retrySchedule = schedule
        let coordinator = try VerificationCoordinator(configuration: configuration)
        return (coordinator, try #require(coordinator.queue))
    }

    @Test("run() retries in the background, and returns once cancelled")
    func runRetriesThenReturns() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let (coordinator, queue) = try coordinatorWithQueue(
            world, schedule: RetrySchedule(firstRetry: .milliseconds(200)))
        let background = Task { await coordinator.run() }
        let outcome = await coordinator.send(try welcome("grey@ok.test"))
        #expect(outcome.reason == .temporaryFailure && outcome.queued)
        world.smtp.update { $0.recipients["grey@ok.test"] = nil }
        let limit = ContinuousClock.now + .seconds(20)
        while world.smtp.deliveryCount == 0, ContinuousClock.now < limit {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(world.smtp.deliveryCount == 1)
        background.cancel()
        await background.value
        #expect(try await queue.entries().isEmpty)
    }

    @Test("Greylisted: queued: true, then the queue's retry delivers it once")
    func greylistedThenRetried() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let (coordinator, queue) = try coordinatorWithQueue(world)
        let outcome = await coordinator.send(try welcome("grey@ok.test"))
        #expect(outcome.reason == .temporaryFailure)
        #expect(outcome.queued)
        #expect(outcome.json.contains(#""queued":true"#))
        let entries = try await queue.entries()
        #expect(entries.count == 1)
        #expect(entries.first?.to == "grey@ok.test")
        #expect(entries.first?.lastReason == "temporary-failure")
        #expect(world.smtp.deliveryCount == 0)

        world.smtp.update { $0.recipients["grey@ok.test"] = nil }
        let summary = try await queue.runAll { await coordinator.redeliver($0) }
        #expect(summary.delivered == 1)
        #expect(try await queue.entries().isEmpty)
        #expect(world.smtp.deliveryCount == 1)
    }

    @Test(
        "Rejected and accepted sends never enter the queue",
        arguments: ["user@ok.test", "nobody@ok.test", "user@nx.test"])
    func terminalNotQueued(address: String) async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let (coordinator, queue) = try coordinatorWithQueue(world)
        let outcome = await coordinator.send(try welcome(address))
        #expect(!outcome.queued)
        #expect(try await queue.entries().isEmpty)
    }

    @Test("A send outliving its budget is stored at once, held, and leaves when delivered")
    func budgetExceededIsHeld() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let (coordinator, queue) = try coordinatorWithQueue(world)
        let events = coordinator.events
        let outcome = try await sendOutlivingBudget(
            coordinator, world, to: "slow@[127.0.0.1]", rcpt: .reply(250, "2.1.5 OK"))
        #expect(outcome.reason == .budgetExceeded)
        #expect(outcome.queued)
        #expect(outcome.json.contains(#""queued":true"#))
        let held = try await queue.entries()
        #expect(held.count == 1)
        #expect(held.first?.lastReason == "budget-exceeded")
        #expect(held.first?.attempts == 0)
        #expect(held.first.map { $0.nextAttemptAt > Date.now.addingTimeInterval(250) } == true)
        #expect(
            try await queue.runAll { await coordinator.redeliver($0) }.events.isEmpty,
            "never retried while its transaction runs")
        let event = try #require(await events.first(within: .seconds(10)))
        #expect(event.outcome.reason == .accepted)
        #expect(!event.outcome.queued)
        #expect(try await queue.entries().isEmpty)
        #expect(world.smtp.deliveryCount == 1)
    }

    @Test("A held send whose transaction ends deferred stays queued, as a first deferral")
    func heldThenDeferred() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let (coordinator, queue) = try coordinatorWithQueue(world)
        let events = coordinator.events
        let outcome = try await sendOutlivingBudget(
            coordinator, world, to: "later@[127.0.0.1]", rcpt: .reply(451, "4.7.1 later"))
        #expect(outcome.reason == .budgetExceeded && outcome.queued)
        let event = try #require(await events.first(within: .seconds(10)))
        #expect(event.outcome.reason == .temporaryFailure)
        #expect(event.outcome.queued)
        let entries = try await queue.entries()
        #expect(entries.count == 1)
        #expect(entries.first?.attempts == 1)
        #expect(entries.first?.lastReason == "temporary-failure")
        #expect(world.smtp.deliveryCount == 0)
    }

    @Test("A re-send to a recipient now refused ends the entry as rejected")
    func redeliverRejected() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let coordinator = try world.coordinator()
        let message = try welcome("nobody@ok.test")
        let data = message.encoded()
        let entry = QueueEntry(
            from: "app@client.test", to: "nobody@ok.test", data: data.bytes,
            messageID: data.messageID,
            createdAt: .now, nextAttemptAt: .now)
        #expect(await coordinator.redeliver(entry) == .rejected(reason: "recipient-rejected"))
    }
}

/// A queued message's re-send must report what really happened to it: if it says
/// "deferred" while its transaction goes on and delivers, the queue sends it again.
@Suite(
    "Coordinator re-send never leaves a transaction behind", .serialized, .timeLimit(.minutes(1)))
struct CoordinatorRedeliveryTests {
    /// A message to a recipient whose RCPT is answered after 4 s, at an address literal
    /// (no DNS in the way, whatever the machine's load).
    private func slowEntry(_ world: MockWorld) throws -> QueueEntry {
        world.smtp.update {
            $0.recipients["slow@[127.0.0.1]"] = MockSMTPResponse.reply(250, "2.1.5 OK")
                .delayed(by: .seconds(4))
        }
        let data = try welcome("slow@[127.0.0.1]").encoded()
        return QueueEntry(
            from: "app@client.test", to: "slow@[127.0.0.1]", data: data.bytes,
            messageID: data.messageID, createdAt: .now, nextAttemptAt: .now)
    }

    /// Waits (bounded) until the mock server has seen MAIL FROM.
    private func waitForTransaction(_ world: MockWorld) async throws {
        let clock = ContinuousClock()
        let limit = clock.now + .seconds(10)
        while world.smtp.transactions.isEmpty, clock.now < limit {
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test("Re-sends wait as long as a server slow on purpose (postscreen) needs; sends do not")
    func patientRedelivery() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        // The greeting comes after 1 s: past the interactive timeouts, within the
        // re-sends' (scaled down from 3 s / 60 s so the test stays short).
        world.smtp.update { $0.greeting = $0.greeting.delayed(by: .seconds(1)) }
        var configuration = world.configuration()
        configuration.timeouts = .uniform(.milliseconds(400))
        configuration.redeliveryTimeouts = .uniform(.seconds(3))
        let coordinator = try VerificationCoordinator(configuration: configuration)
        let sent = await coordinator.send(try welcome("user@[127.0.0.1]"))
        #expect(sent.reason == .noReachableHost, "\(sent)")
        let data = try welcome("user@[127.0.0.1]").encoded()
        let entry = QueueEntry(
            from: "app@client.test", to: "user@[127.0.0.1]", data: data.bytes,
            messageID: data.messageID, createdAt: .now, nextAttemptAt: .now)
        #expect(await coordinator.redeliver(entry) == .delivered)
        #expect(world.smtp.deliveryCount == 1)
    }

    @Test("A re-send outliving the redelivery budget waits for the server's verdict")
    func redeliveryBudgetEndsInsideTransaction() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        var configuration = world.configuration()
        configuration.redeliveryBudget = .milliseconds(1500)  // RCPT answers after 4 s
        let coordinator = try VerificationCoordinator(configuration: configuration)
        let outcome = await coordinator.redeliver(try slowEntry(world))
        // Whatever the machine's pace, "deferred" must mean "not delivered".
        try await Task.sleep(for: .seconds(5))
        if world.smtp.transactions.isEmpty {
            #expect(outcome == .deferred(reason: "no-reachable-host"), "never got to MAIL")
        } else {
            #expect(outcome == .delivered, "the queue would send it again")
        }
        #expect(world.smtp.deliveryCount == (outcome == .delivered ? 1 : 0))
    }

    @Test("A re-send cancelled inside its transaction (the queue run cancelled) still reports delivered")
    func cancelledInsideTransaction() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let coordinator = try world.coordinator()
        let entry = try slowEntry(world)
        let task = Task { await coordinator.redeliver(entry) }
        try await waitForTransaction(world)
        task.cancel()
        let outcome = await task.value
        #expect(outcome == .delivered, "the queue would send it again")
        #expect(world.smtp.deliveryCount == 1)
    }

    @Test(
        "A stored address no longer valid ends the entry, rejected for its side",
        arguments: [
            ("bad address@client.test", "user@ok.test", "sender-rejected"),
            ("app@client.test", "no at sign", "recipient-rejected"),
        ])
    func invalidStoredAddress(from: String, to: String, reason: String) async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        let coordinator = try world.coordinator()
        let entry = QueueEntry(
            from: from, to: to, data: Array("Subject: x\r\n\r\nx\r\n".utf8),
            messageID: "<x@client.test>", createdAt: .now, nextAttemptAt: .now)
        #expect(await coordinator.redeliver(entry) == .rejected(reason: reason))
        #expect(world.smtp.connectionCount == 0)
    }

    @Test("Re-sends publish no events: those are for send's own callers")
    func noEventsFromRedelivery() async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        var configuration = world.configuration()
        configuration.redeliveryBudget = .milliseconds(1500)
        let coordinator = try VerificationCoordinator(configuration: configuration)
        let events = coordinator.events
        _ = await coordinator.redeliver(try slowEntry(world))
        #expect(await events.first(within: .seconds(5)) == nil)
    }
}
