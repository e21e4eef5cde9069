import Logging
import ServiceLifecycle

/// The mailer's background work (the coordinator's `run()`: retries and purges of the
/// queue), the queue events and the purge of old pending sign-ups, run as a service of the
/// application: started with it, drained and closed when it shuts down
/// (after the HTTP server, which the application stops first).
public struct SignupMailService: Service {
    let flow: SignupFlow
    let purgeInterval: Duration

    /// Creates the service for `flow`.
    public init(flow: SignupFlow, purgeInterval: Duration) {
        self.flow = flow
        self.purgeInterval = purgeInterval
    }

    public func run() async throws {
        let flow = self.flow
        // Events are read until the mailer finishes them, after its drain: a message
        // given up while the queue stops still removes its sign-up.
        async let consumed: Void = {
            for await event in flow.mailer.events { await flow.handle(event) }
        }()
        let queue = Task { await flow.mailer.run() }
        let purge = Task { [purgeInterval] in
            while !Task.isCancelled {
                await flow.purgeExpired()
                try? await flow.clock.sleep(
                    until: flow.clock.now.addingTimeInterval(purgeInterval.seconds))
            }
        }
        try? await gracefulShutdown()
        purge.cancel()
        queue.cancel()
        await purge.value
        await queue.value
        await consumed
        await flow.store.close()
    }
}
