import DNSClient
@testable import DirectSMTP
import DirectSMTPTesting
import Testing

/// A coordinator nobody holds any more is freed, with its engine, resolver and queue
/// (LeakSanitizer once found engines and resolvers kept alive by a reference cycle,
/// an ended probe left in the engine's in-flight table holding its driver, which holds
/// the engine).
@Suite("Coordinator lifetime", .serialized, .timeLimit(.minutes(1)))
struct CoordinatorLifetimeTests {
    private struct QuietObserver: DeliveryObserver {}

    /// Weak references to a coordinator and what it owns.
    private final class Watched: @unchecked Sendable {
        // Safe: the fields are set once, in init; afterwards only the Swift runtime writes
        // them (clearing a weak reference when its object goes), atomically through the
        // object's side table, and the test only reads them.
        weak var coordinator: VerificationCoordinator?
        weak var engine: VerificationCoordinator.Engine?
        weak var resolver: MXResolver?
        weak var queue: DeliveryQueue?

        init(_ coordinator: VerificationCoordinator?) {
            self.coordinator = coordinator
            self.engine = coordinator?.engine
            self.resolver = coordinator?.resolver
            self.queue = coordinator?.queue
        }

        var allFreed: Bool { coordinator == nil && engine == nil && resolver == nil && queue == nil }

        var report: String {
            "still alive: coordinator \(coordinator != nil), engine \(engine != nil), "
                + "resolver \(resolver != nil), queue \(queue != nil)"
        }

        /// Waits (at most 2 s) for everything to be freed.
        func expectFreed() async {
            for _ in 0..<200 where !allFreed {
                try? await Task.sleep(for: .milliseconds(10))
            }
            #expect(allFreed, "\(report)")
        }
    }

    @Test("Freed after sends and probes", arguments: [false, true])
    func freedAfterUse(withQueue: Bool) async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        var configuration = world.configuration()
        if withQueue { configuration.queueStore = InMemoryQueueStore() }
        var coordinator: VerificationCoordinator? = try VerificationCoordinator(
            configuration: configuration)
        let watched = Watched(coordinator)
        let sent = await coordinator?.send(try welcome("user@ok.test"))
        #expect(sent?.reason == .accepted)
        let deferred = await coordinator?.send(try welcome("grey@ok.test"))
        #expect(deferred?.reason == .temporaryFailure)
        for address in ["user@ok.test", "nobody@ok.test", "grey@ok.test", "user@nx.test"] {
            _ = await coordinator?.probe(try EmailAddress(address))
        }
        coordinator = nil
        await watched.expectFreed()
    }

    @Test("Freed after run() ends, with an events subscriber and calls past their budget",
          arguments: [false, true])
    func freedAfterRun(withQueue: Bool) async throws {
        let world = try await MockWorld.start()
        defer { world.stop() }
        var configuration = world.configuration(budget: .milliseconds(300))
        if withQueue { configuration.queueStore = InMemoryQueueStore() }
        configuration.observer = QuietObserver()
        var coordinator: VerificationCoordinator? = try VerificationCoordinator(
            configuration: configuration)
        let watched = Watched(coordinator)
        let background = Task { [coordinator] in await coordinator?.run() }
        let events = coordinator?.events
        let listener = Task { if let events { for await _ in events {} } }
        // This one must end in the 2 s RCPT reply, as DeliveryObserverTests' late final does:
        // a budget of its own leaves the steps before RCPT their time on a loaded machine.
        let late = await coordinator?.send(try welcome("slow@ok.test"), budget: .milliseconds(1500))
        #expect(late?.reason == .budgetExceeded, "\(String(describing: late))")
        _ = await coordinator?.send(try welcome("user@silent.test"))
        _ = await coordinator?.probe(try EmailAddress("slow@ok.test"))
        _ = await coordinator?.send(try welcome("user@slowgreeting.test"))
        background.cancel()
        await background.value
        listener.cancel()
        coordinator = nil
        await watched.expectFreed()
    }

    @Test("Freed after a probe whose servers stop at once", arguments: ["user@ok.test", "user@nx.test"])
    func freedAfterServersStop(address: String) async throws {
        let world = try await MockWorld.start()
        var coordinator: VerificationCoordinator? = try world.coordinator()
        let watched = Watched(coordinator)
        _ = await coordinator?.probe(try EmailAddress(address))
        world.stop()
        coordinator = nil
        await watched.expectFreed()
    }
}
