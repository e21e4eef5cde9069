import HTTPTypes
import HummingbirdTesting
import SignupApp
import Testing

/// Entering the code: the right one completes the sign-up once; wrong ones are limited;
/// "send the code again" is rate-limited.
@Suite struct VerificationTests {
    @Test(arguments: TestStorage.available)
    func rightCodeCompletesTheSignupAndCannotBeUsedAgain(storage: TestStorage) async throws {
        let service = try TestService(storage: storage)
        try await service.run { app, client in
            let (_, page) = try await client.postForm("/signup", ["email": "jane@example.test"])
            let id = try #require(signupID(in: page))
            let code = try #require(service.world.lastCode(for: "jane@example.test"))
            let (status, verified) = try await client.postForm("/verify", ["id": id, "code": code])
            #expect(status == .ok)
            #expect(outcome(of: verified) == "verified")
            #expect(verified.contains("your sign-up is complete"))
            let (again, reused) = try await client.postForm("/verify", ["id": id, "code": code])
            #expect(again == .conflict)
            #expect(outcome(of: reused) == "already-verified")
            let stored = try #require(try await app.store.signup(id: id))
            #expect(stored.isVerified)
            #expect(stored.codeHash.isEmpty)  // nothing of the code is kept
        }
    }

    @Test(arguments: TestStorage.available)
    func wrongCodesAreLimitedToFiveTries(storage: TestStorage) async throws {
        let service = try TestService(storage: storage)
        try await service.run { _, client in
            let (_, page) = try await client.postForm("/signup", ["email": "jane@example.test"])
            let id = try #require(signupID(in: page))
            let code = try #require(service.world.lastCode(for: "jane@example.test"))
            let wrong = code == "000000" ? "111111" : "000000"
            for left in (1...4).reversed() {
                let (status, answer) = try await client.postForm("/verify", ["id": id, "code": wrong])
                #expect(status == .unprocessableContent)
                #expect(answer.contains("You can try \(left) more time"))
            }
            let (fifth, last) = try await client.postForm("/verify", ["id": id, "code": wrong])
            #expect(fifth == .tooManyRequests)
            #expect(outcome(of: last) == "no-tries-left")
            // Even the right code no longer works: only a new code does.
            let (status, right) = try await client.postForm("/verify", ["id": id, "code": code])
            #expect(status == .tooManyRequests)
            #expect(outcome(of: right) == "no-tries-left")
            #expect(right.contains("id=\"resend-form\""))
        }
    }

    @Test(arguments: TestStorage.available)
    func resendIsRateLimitedAndReplacesTheCode(storage: TestStorage) async throws {
        let service = try TestService(storage: storage)
        try await service.run { _, client in
            let (_, page) = try await client.postForm("/signup", ["email": "jane@example.test"])
            let id = try #require(signupID(in: page))
            let first = try #require(service.world.lastCode(for: "jane@example.test"))
            let (soon, tooSoon) = try await client.postForm("/resend", ["id": id])
            #expect(soon == .tooManyRequests)
            #expect(outcome(of: tooSoon) == "too-soon")
            #expect(service.world.deliveryCount(for: "jane@example.test") == 1)
            service.clock.advance(by: .seconds(61))
            let (status, resent) = try await client.postForm("/resend", ["id": id])
            #expect(status == .ok)
            #expect(outcome(of: resent) == "accepted")
            #expect(service.world.deliveryCount(for: "jane@example.test") == 2)
            let second = try #require(service.world.lastCode(for: "jane@example.test"))
            if first != second {
                let (old, _) = try await client.postForm("/verify", ["id": id, "code": first])
                #expect(old == .unprocessableContent)
            }
            let (ok, _) = try await client.postForm("/verify", ["id": id, "code": second])
            #expect(ok == .ok)
        }
    }

    @Test func resendStopsAfterFiveCodes() async throws {
        let service = try TestService()
        try await service.run { _, client in
            let (_, page) = try await client.postForm("/signup", ["email": "jane@example.test"])
            let id = try #require(signupID(in: page))
            for _ in 2...5 {
                service.clock.advance(by: .seconds(61))
                let (status, _) = try await client.postForm("/resend", ["id": id])
                #expect(status == .ok)
            }
            service.clock.advance(by: .seconds(61))
            let (status, last) = try await client.postForm("/resend", ["id": id])
            #expect(status == .tooManyRequests)
            #expect(outcome(of: last) == "limit-reached")
            #expect(service.world.deliveryCount(for: "jane@example.test") == 5)
        }
    }

    @Test func jsonVerify() async throws {
        let service = try TestService()
        try await service.run { _, client in
            let (_, answer) = try await client.postJSON("/api/signup", ["email": "jane@example.test"])
            let id = try #require(answer["id"])
            let code = try #require(service.world.lastCode(for: "jane@example.test"))
            let (wrong, wrongAnswer) = try await client.postJSON("/api/verify", ["id": id, "code": "x"])
            #expect(wrong == .unprocessableContent)
            #expect(wrongAnswer["triesLeft"] == "4")
            let (ok, okAnswer) = try await client.postJSON("/api/verify", ["id": id, "code": code])
            #expect(ok == .ok)
            #expect(okAnswer["status"] == "verified")
            let (unknown, _) = try await client.postJSON("/api/verify", ["id": "nope", "code": code])
            #expect(unknown == .notFound)
        }
    }
}
