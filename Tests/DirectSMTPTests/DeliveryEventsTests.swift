import Testing

@testable import DirectSMTP

/// `events`: a consumer that goes away must not silence the stream for everyone after it.
@Suite("Delivery events", .serialized, .timeLimit(.minutes(1)))
struct DeliveryEventsTests {
    /// An engine whose sends outlive a 400 ms budget by about 600 ms and then succeed:
    /// margins wide enough that a loaded machine cannot move the budget's phase.
    private func slowEngine() -> FakeEngine {
        FakeEngine(
            lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
            servers: ["127.0.0.11": FakeServer(transactionDelay: .milliseconds(1000))])
    }

    @Test("A consumer cancelled by its timeout does not end the events of later consumers")
    func cancelledConsumerLeavesOthersAlone() async throws {
        let engine = slowEngine()
        // "The first event within 50 ms": nothing yet, so its consumer is cancelled.
        #expect(await firstEvent(of: engine, within: .milliseconds(50)) == nil)
        #expect(await engine.send(budget: .milliseconds(400)).reason == .budgetExceeded)
        let event = try #require(await firstEvent(of: engine, within: .seconds(5)))
        #expect(event.outcome.reason == .accepted)
    }

    @Test("Two consumers at once both get every event")
    func everyConsumerGetsEveryEvent() async throws {
        let engine = slowEngine()
        let first = engine.events
        let second = engine.events
        #expect(await engine.send(budget: .milliseconds(400)).reason == .budgetExceeded)
        for stream in [first, second] {
            let event = try #require(await firstValue(of: stream, within: .seconds(5)))
            #expect(event.outcome.reason == .accepted)
        }
    }

    @Test("An event published while nobody listens waits for the next consumer")
    func backlogForTheNextConsumer() async throws {
        let engine = slowEngine()
        #expect(await engine.send(budget: .milliseconds(400)).reason == .budgetExceeded)
        try await Task.sleep(for: .milliseconds(1500))  // the event is out by now
        let event = try #require(await firstEvent(of: engine, within: .seconds(1)))
        #expect(event.outcome.reason == .accepted)
        #expect(engine.eventHub.backlogCount == 0)
    }

    @Test("The hub keeps bounded backlogs and forgets ended subscribers")
    func bounded() async {
        let hub = EventHub<Int>(capacity: 16)
        for value in 0..<1000 { hub.publish(value) }
        #expect(hub.backlogCount <= 16)
        let stream = hub.subscribe()
        #expect(hub.subscriberCount == 1)
        hub.publish(1000)
        var seen: [Int] = []
        for await value in stream {
            seen.append(value)
            if value == 1000 { break }
        }
        #expect(seen.last == 1000 && seen.count <= 17 && seen.first! >= 1000 - 16 - 2)
        let consumer = Task { for await _ in hub.subscribe() {} }
        try? await Task.sleep(for: .milliseconds(20))
        consumer.cancel()
        await consumer.value
        #expect(hub.subscriberCount == 1, "the cancelled one is gone, the first stays")
        hub.finish()
        #expect(hub.subscriberCount == 0)
        for await _ in hub.subscribe() { Issue.record("a finished hub's stream ends at once") }
    }
}

/// The first value of `stream` within `limit`, or nil.
func firstValue(of stream: AsyncStream<DeliveryEvent>, within limit: Duration) async
    -> DeliveryEvent?
{
    await stream.first(within: limit)
}
