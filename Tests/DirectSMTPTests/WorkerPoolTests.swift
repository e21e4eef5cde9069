import Sockets
import Testing

@testable import DirectSMTP

@Suite("Worker pool", .timeLimit(.minutes(1)))
struct WorkerPoolTests {
    /// Waits (bounded) until `condition` holds.
    private func eventually(
        within limit: Duration = .seconds(5), _ condition: () -> Bool
    ) async throws -> Bool {
        let end = ContinuousClock.now + limit
        while !condition() {
            if ContinuousClock.now > end { return false }
            try await Task.sleep(for: .milliseconds(2))
        }
        return true
    }

    @Test("Jobs one after another reuse one parked worker")
    func reuse() async throws {
        let pool = WorkerPool()
        defer { pool.shutdown() }
        let done = Counter()
        for round in 1...20 {
            pool.submit { done.bump() }
            #expect(try await eventually { done.value == round && pool.idleCount == 1 })
        }
        #expect(pool.workersStarted == 1)
    }

    @Test("Jobs at once each get a worker; none waits for another")
    func concurrent() async throws {
        let pool = WorkerPool()
        defer { pool.shutdown() }
        let gate = Gate()
        let started = Counter()
        for _ in 0..<10 {
            pool.submit {
                started.bump()
                await gate.wait()
            }
        }
        // All ten start although none has finished: no job queues behind another.
        #expect(try await eventually { started.value == 10 })
        gate.open()
        #expect(try await eventually { pool.idleCount == 10 })
        #expect(pool.workersStarted == 10)
    }

    @Test("Cancelling a job cancels its wait; its worker retires and the next job runs uncancelled")
    func cancelRetiresTheWorker() async throws {
        let pool = WorkerPool()
        defer { pool.shutdown() }
        let sawCancellation = Lock<Bool?>(nil)
        let job = pool.submit {
            // Ended only by cancellation (bounded by the test's time limit).
            try? await Task.sleep(for: .seconds(30))
            sawCancellation.withLock { $0 = Task.isCancelled }
        }
        try await Task.sleep(for: .milliseconds(20))
        job.cancel()
        #expect(try await eventually { sawCancellation.withLock { $0 } == true })
        // The cancelled worker does not park; the next job starts a fresh one.
        try await Task.sleep(for: .milliseconds(20))
        #expect(pool.idleCount == 0)
        let nextCancelled = Lock<Bool?>(nil)
        pool.submit { nextCancelled.withLock { $0 = Task.isCancelled } }
        #expect(try await eventually { nextCancelled.withLock { $0 } == false })
        #expect(pool.workersStarted == 2)
    }

    @Test("Cancelling a finished job touches nothing: the worker's next job is not cancelled")
    func cancelAfterFinish() async throws {
        let pool = WorkerPool()
        defer { pool.shutdown() }
        let first = pool.submit {}
        #expect(try await eventually { pool.idleCount == 1 })
        let gate = Gate()
        let secondCancelled = Lock<Bool?>(nil)
        pool.submit {
            await gate.wait()
            secondCancelled.withLock { $0 = Task.isCancelled }
        }
        first.cancel()  // the worker now runs the second job
        gate.open()
        #expect(try await eventually { secondCancelled.withLock { $0 } == false })
        #expect(pool.workersStarted == 1)
    }

    @Test("Shutdown ends the parked workers; a job submitted after it still runs")
    func shutdown() async throws {
        let pool = WorkerPool()
        let done = Counter()
        for _ in 0..<5 { pool.submit { done.bump() } }
        #expect(try await eventually { pool.idleCount == 5 })
        pool.shutdown()
        #expect(pool.idleCount == 0)
        pool.submit { done.bump() }
        #expect(try await eventually { done.value == 6 })
        try await Task.sleep(for: .milliseconds(20))
        #expect(pool.idleCount == 0)
    }

    @Test("At most maximumIdle workers stay parked")
    func idleBound() async throws {
        let pool = WorkerPool(maximumIdle: 3)
        defer { pool.shutdown() }
        let gate = Gate()
        let finished = Counter()
        for _ in 0..<8 {
            pool.submit {
                await gate.wait()
                finished.bump()
            }
        }
        gate.open()
        #expect(try await eventually { finished.value == 8 })
        try await Task.sleep(for: .milliseconds(20))
        #expect(pool.idleCount == 3)
    }

    @Test("A coordinator's engine is freed after its calls: no worker keeps it alive")
    func engineIsReleased() async throws {
        weak var weakEngine: FakeEngine?
        do {
            let engine = FakeEngine(
                lookup: FakeLookup(hosts: [(10, "127.0.0.11")]),
                servers: ["127.0.0.11": .healthy])
            weakEngine = engine
            let sent = await engine.send()
            #expect(sent.reason == .accepted)
            let probed = await engine.probe()
            #expect(probed.reason == .accepted)
        }
        #expect(try await eventually { weakEngine == nil })
    }
}
