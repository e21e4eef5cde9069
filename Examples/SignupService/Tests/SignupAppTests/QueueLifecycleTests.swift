import HTTPTypes
import HummingbirdTesting
import SignupApp
import Testing

/// What happens after the page: later deliveries, give-ups, the purge, a restart. The
/// queue runs on the service's manual clock (the coordinator's `queueClock`): a test moves
/// it past the first retry (60 s) or the period (1 h) and nothing waits for real.
@Suite struct QueueLifecycleTests {
    @Test(arguments: TestStorage.available)
    func deferredSignupDeliveredByALaterRunThenVerified(storage: TestStorage) async throws {
        let service = try TestService(storage: storage)
        service.world.setRecipient("later@example.test", (451, "4.7.1 greylisted, try again later"))
        try await service.run { app, client in
            let (status, page) = try await client.postForm("/signup", ["email": "later@example.test"])
            #expect(status == .accepted)
            #expect(page.contains("will arrive in due course"))
            let id = try #require(signupID(in: page))
            #expect(service.world.lastCode(for: "later@example.test") == nil)
            service.world.setRecipient("later@example.test", nil)
            service.clock.advance(by: .seconds(61))
            #expect(await service.eventuallyOnTheClock {
                try await app.mailer.queuedMessageIDs().isEmpty
            })
            let code = try #require(service.world.lastCode(for: "later@example.test"))
            // Delivered later: still pending until verified.
            let pending = try #require(try await app.store.signup(id: id))
            #expect(!pending.isVerified)
            let (verified, done) = try await client.postForm("/verify", ["id": id, "code": code])
            #expect(verified == .ok)
            #expect(outcome(of: done) == "verified")
        }
    }

    @Test(arguments: TestStorage.available)
    func sendOutlivingItsBudgetIsHeldAndItsLateAcceptanceKeepsTheSignup(storage: TestStorage) async throws {
        let service = try TestService(storage: storage)
        // The server answers RCPT after 2.5 s: the 2 s budget ends inside the transaction.
        service.world.setRecipient(
            "slow@example.test", (250, "2.1.5 recipient OK"), delay: .milliseconds(2500))
        try await service.run { app, client in
            let started = ContinuousClock.now
            let (status, page) = try await client.postForm("/signup", ["email": "slow@example.test"])
            #expect(started.duration(to: .now) < .milliseconds(2400), "the page does not wait")
            #expect(status == .accepted)
            #expect(page.contains("is taking its time to answer"))
            #expect(page.contains("will arrive in due course"))
            let id = try #require(signupID(in: page))
            // The transaction goes on and is accepted: the held message leaves the queue.
            #expect(await eventually(within: .seconds(8)) {
                service.world.lastCode(for: "slow@example.test") != nil
            })
            #expect(await eventually { try await app.mailer.queuedMessageIDs().isEmpty })
            let code = try #require(service.world.lastCode(for: "slow@example.test"))
            let (verified, _) = try await client.postForm("/verify", ["id": id, "code": code])
            #expect(verified == .ok)
        }
    }

    @Test(arguments: TestStorage.available)
    func deferredSignupPurgedAfterThePeriod(storage: TestStorage) async throws {
        let service = try TestService(storage: storage)
        try await service.run { app, client in
            let (_, page) = try await client.postForm("/signup", ["email": "jane@dns-down.test"])
            let id = try #require(signupID(in: page))
            #expect(try await app.store.signup(id: id) != nil)
            // The period (the queue's maximum age, 1 h) passes: the queue gives up.
            service.clock.advance(by: .seconds(3601))
            #expect(await service.eventuallyOnTheClock {
                try await app.store.signup(id: id) == nil
            })
            // The sign-ups' own purge may have come first: the queue's expiry follows.
            #expect(await service.eventuallyOnTheClock { try await app.mailer.queuedMessageIDs().isEmpty })
            let (status, gone) = try await client.postForm("/verify", ["id": id, "code": "123456"])
            #expect(status == .notFound)
            #expect(outcome(of: gone) == "unknown")
        }
    }

    @Test(arguments: TestStorage.available)
    func unverifiedAcceptedSignupPurgedAfterThePeriod(storage: TestStorage) async throws {
        let service = try TestService(storage: storage)
        try await service.run { app, client in
            let (_, page) = try await client.postForm("/signup", ["email": "jane@example.test"])
            let id = try #require(signupID(in: page))
            service.clock.advance(by: .seconds(1800))
            #expect(await app.flow.purgeExpired() == 0)
            service.clock.advance(by: .seconds(1801))
            // The service's own purge runs on the clock too; either removes it.
            await app.flow.purgeExpired()
            #expect(try await app.store.signup(id: id) == nil)
        }
    }

    @Test(arguments: TestStorage.available)
    func rejectedRetryRemovesThePendingSignupAtOnce(storage: TestStorage) async throws {
        let service = try TestService(storage: storage)
        service.world.setRecipient("gone@example.test", (451, "4.2.0 mailbox busy, try later"))
        try await service.run { app, client in
            let (_, page) = try await client.postForm("/signup", ["email": "gone@example.test"])
            let id = try #require(signupID(in: page))
            service.world.setRecipient("gone@example.test", (550, "5.1.1 no such user here"))
            service.clock.advance(by: .seconds(61))
            #expect(await service.eventuallyOnTheClock {
                try await app.store.signup(id: id) == nil
            })
            #expect(try await app.mailer.queuedMessageIDs().isEmpty)
        }
    }

    @Test(arguments: TestStorage.available)
    func restartBetweenSignupAndVerificationLosesNothing(storage: TestStorage) async throws {
        let service = try TestService(storage: storage)
        service.world.setRecipient("later@example.test", (451, "4.7.1 greylisted, try again later"))
        let (acceptedID, queuedID) = try await service.run { _, client in
            let (_, accepted) = try await client.postForm("/signup", ["email": "jane@example.test"])
            let (_, queued) = try await client.postForm("/signup", ["email": "later@example.test"])
            return (try #require(signupID(in: accepted)), try #require(signupID(in: queued)))
        }
        #expect(service.world.lastCode(for: "later@example.test") == nil)
        // The server takes it now: only the journal can bring it to the next instance.
        service.world.setRecipient("later@example.test", nil)
        // A new instance over the same SQLite file and journal.
        try await service.run { app, client in
            let code = try #require(service.world.lastCode(for: "jane@example.test"))
            let (status, page) = try await client.postForm("/verify", ["id": acceptedID, "code": code])
            #expect(status == .ok)
            #expect(outcome(of: page) == "verified")
            #expect(try await app.store.signup(id: queuedID) != nil)
            service.clock.advance(by: .seconds(61))
            #expect(await service.eventuallyOnTheClock {
                try await app.mailer.queuedMessageIDs().isEmpty
            })
            let later = try #require(service.world.lastCode(for: "later@example.test"))
            let (ok, _) = try await client.postForm("/verify", ["id": queuedID, "code": later])
            #expect(ok == .ok)
        }
    }
}
