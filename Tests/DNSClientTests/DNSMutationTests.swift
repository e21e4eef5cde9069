import DNSClient
import DirectSMTPTesting
import Foundation
import Sockets
import Testing

extension DNSClientTests {
    /// Mutated valid packets never crash or hang the decoder, and whatever decodes survives
    /// an encode/decode round trip unchanged.
    @Suite
    struct DNSMutationTests {
        /// A small, seeded generator so a failure can be replayed.
        struct SplitMix: RandomNumberGenerator {
            var state: UInt64
            mutating func next() -> UInt64 {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return z ^ (z >> 31)
            }
        }

        static func seeds() throws -> [[UInt8]] {
            var nx = DNSHeader(id: 9, flags: 0)
            nx.isResponse = true
            nx.responseCode = .nameError
            let zone = try DNSName("example.org")
            let soa = DNSSOA(
                primary: try DNSName("ns1.example.org"),
                mailbox: try DNSName("hostmaster.example.org"), serial: 1,
                refresh: 2, retry: 3, expire: 4, minimum: 300)
            let negative = DNSMessage(
                header: nx,
                questions: [DNSQuestion(name: try DNSName("nope.example.org"), type: .mx)],
                authorities: [.soa(zone, soa, ttl: 900)])
            var ok = DNSHeader(id: 10, flags: 0x8180)
            ok.isResponse = true
            let chain = DNSMessage(
                header: ok,
                questions: [DNSQuestion(name: try DNSName("www.example.org"), type: .aaaa)],
                answers: [
                    .cname(try DNSName("www.example.org"), target: try DNSName("web.example.org")),
                    .address(try DNSName("web.example.org"), IPAddress("2001:db8::5")!),
                ])
            return [
                try typicalMXResponse(), negative.encoded(), chain.encoded(),
                DNSMessage.query(id: 3, name: try DNSName("example.com"), type: .mx).encoded(),
            ]
        }

        struct Outcome: Sendable {
            var decoded = 0
            var rejected = 0
            var failure: String?
            /// The CPU time of the decoding thread: what the bound is about, unlike wall time,
            /// which at the lowest priority on a loaded machine is mostly waiting for a core.
            var cost = Duration.zero
        }

        /// The CPU time the calling thread has used so far.
        static func threadCPUTime() -> Duration {
            var time = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
            return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
        }

        static func mutate(_ seeds: [[UInt8]]) -> Outcome {
            var outcome = Outcome()
            var random = SplitMix(state: 0xD15EA5E)
            let start = threadCPUTime()
            for iteration in 0..<100_000 {
                var bytes = seeds[iteration % seeds.count]
                let edits = Int.random(in: 1...4, using: &random)
                for _ in 0..<edits {
                    guard !bytes.isEmpty else {
                        bytes.append(UInt8.random(in: 0...255, using: &random)); continue
                    }
                    let at = Int.random(in: 0..<bytes.count, using: &random)
                    switch Int.random(in: 0..<7, using: &random) {
                    case 0: bytes[at] = UInt8.random(in: 0...255, using: &random)
                    case 1: bytes[at] ^= 1 << UInt8.random(in: 0..<8, using: &random)
                    case 2: bytes.removeLast(Int.random(in: 0...(bytes.count - at), using: &random))
                    case 3: bytes.insert(UInt8.random(in: 0...255, using: &random), at: at)
                    case 4:  // a compression pointer anywhere, to anywhere
                        bytes[at] = 0xC0 | UInt8.random(in: 0...0x3F, using: &random) & 0x01
                        if at + 1 < bytes.count {
                            bytes[at + 1] = UInt8.random(in: 0...255, using: &random)
                        }
                    case 5:
                        bytes[at] = [0, 63, 64, 0x7F, 0xFF][Int.random(in: 0..<5, using: &random)]
                    default: bytes.remove(at: at)
                    }
                }
                do {
                    let message = try DNSMessage(decoding: bytes)
                    outcome.decoded += 1
                    guard let again = try? DNSMessage(decoding: message.encoded()), again == message
                    else {
                        outcome.failure = "round trip changed \(bytes)"
                        return outcome
                    }
                } catch {
                    outcome.rejected += 1
                }
            }
            outcome.cost = threadCPUTime() - start
            return outcome
        }
    }
}

/// 100,000 mutated packets through the decoder, on a thread of its own at the lowest
/// priority: 5-15 s on a loaded two-core machine, far longer while the suites beside it keep
/// both cores busy, which is what the lowest priority is for. Outside DNSClientTests so
/// that its one-minute limit, meant for socket tests, does not apply; three minutes only
/// guard against a hang, and the decoding's cost is bounded in CPU time below.
@Suite(.timeLimit(.minutes(3)))
struct DNSMutationSoakTests {
    // Decoding on one thread gives ThreadSanitizer nothing to see, and under it the
    // 100,000 decodes take minutes; AddressSanitizer runs it (memory errors are its point).
    @Test(.disabled(if: TimingScale.sanitizer == "thread", "single-threaded decoding: nothing for TSan"))
    func hundredThousandMutationsNeverCrash() async throws {
        let seeds = try DNSClientTests.DNSMutationTests.seeds()
        // CPU-bound: run on a thread of its own, not on the cooperative pool the other
        // tests' sockets need.
        let outcome = await withCheckedContinuation {
            (continuation: CheckedContinuation<DNSClientTests.DNSMutationTests.Outcome, Never>) in
            let thread = Thread {
                // Lowest priority (on Linux, who = 0 means this thread only): timing-sensitive tests
                // running beside this one keep their CPU.
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
                continuation.resume(returning: DNSClientTests.DNSMutationTests.mutate(seeds))
            }
            thread.start()
        }
        if let failure = outcome.failure { Issue.record(Comment(rawValue: failure)) }
        #expect(outcome.decoded + outcome.rejected == 100_000)
        #expect(outcome.decoded > 1000)
        #expect(outcome.rejected > 1000)
        #expect(outcome.cost < .seconds(30))
    }
}
