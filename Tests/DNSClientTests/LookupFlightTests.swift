import Synchronization
import Testing

@testable import DNSClient

extension DNSClientTests {
    /// The flight on its own: who may join, and when its work is cancelled.
    @Suite
    struct LookupFlightTests {
        final class Flag: Sendable {
            let cancelled = Atomic<Bool>(false)
            var isSet: Bool { cancelled.load(ordering: .relaxed) }
        }

        @Test func theLastCallerLeavingCancelsTheWorkAndNobodyJoinsAgain() async {
            let flight = LookupFlight()
            let flag = Flag()
            #expect(flight.enroll())
            #expect(flight.enroll())
            let work = Task {
                try? await Task.sleep(for: .seconds(5))
                if Task.isCancelled { flag.cancelled.store(true, ordering: .relaxed) }
            }
            flight.run(work)
            #expect(await flight.wait(deadline: .now + .milliseconds(20)) == nil)
            // One caller is still enrolled: the work goes on.
            #expect(!flight.isAbandoned)
            #expect(!work.isCancelled)
            #expect(await flight.wait(deadline: .now + .milliseconds(20)) == nil)
            #expect(flight.isAbandoned)
            await work.value
            #expect(flag.isSet)
            // Not complete, yet never joined again: the next caller starts a new flight.
            #expect(!flight.isCompleted)
            #expect(!flight.enroll())
        }

        @Test func aCancelledCallerLeavesLikeOneWhoseDeadlinePassed() async throws {
            let flight = LookupFlight()
            #expect(flight.enroll())
            let work = Task<Void, Never> { try? await Task.sleep(for: .seconds(5)) }
            flight.run(work)
            let caller = Task { await flight.wait(deadline: nil) }
            try await Task.sleep(for: .milliseconds(20))
            caller.cancel()
            #expect(await caller.value == nil)
            #expect(flight.isAbandoned)
            #expect(work.isCancelled)
        }

        @Test func workHandedOverAfterEveryoneLeftIsCancelledAtOnce() async {
            let flight = LookupFlight()
            #expect(flight.enroll())
            #expect(await flight.wait(deadline: .now) == nil)
            let work = Task<Void, Never> { try? await Task.sleep(for: .seconds(5)) }
            flight.run(work)
            #expect(work.isCancelled)
            await work.value
        }

        @Test func aCompletedFlightIsNeverCancelledNorJoined() async {
            let flight = LookupFlight()
            #expect(flight.enroll())
            let work = Task<Void, Never> { try? await Task.sleep(for: .seconds(5)) }
            flight.run(work)
            flight.complete(.noMailServer(.nullMX))
            #expect(await flight.wait(deadline: .now + .seconds(1)) == .noMailServer(.nullMX))
            #expect(!flight.isAbandoned)
            #expect(!work.isCancelled)
            #expect(!flight.enroll())
            work.cancel()
        }
    }
}
