import Dispatch
import DirectSMTPTesting
import IDNA
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// RFC 3492 §7.1 sample strings (and two everyday German ones), as code points and the
/// punycode the RFC gives.
private let rfc3492Samples: [(String, String)] = [
    ("Bücher", "Bcher-kva"),
    ("münchen", "mnchen-3ya"),
    ("\u{0644}\u{064A}\u{0647}\u{0645}\u{0627}\u{0628}\u{062A}\u{0643}\u{0644}\u{0645}\u{0648}\u{0634}\u{0639}\u{0631}\u{0628}\u{064A}\u{061F}", "egbpdaj6bu4bxfgehfvwxn"),
    ("\u{4ED6}\u{4EEC}\u{4E3A}\u{4EC0}\u{4E48}\u{4E0D}\u{8BF4}\u{4E2D}\u{6587}", "ihqwcrb4cv8a8dqg056pqjye"),
    ("\u{4ED6}\u{5011}\u{7232}\u{4EC0}\u{9EBD}\u{4E0D}\u{8AAA}\u{4E2D}\u{6587}", "ihqwctvzc91f659drss3x8bo0yb"),
    ("Pročprostěnemluvíčesky", "Proprostnemluvesky-uyb24dma41a"),
    ("PorquénopuedensimplementehablarenEspañol", "PorqunopuedensimplementehablarenEspaol-fmd56a"),
    ("TạisaohọkhôngthểchỉnóitiếngViệt", "TisaohkhngthchnitingVit-kjcr8268qyxafd2f1b9g"),
    ("почемужеонинеговорятпорусски", "b1abfaaepdrnnbgefbadotcwatmq2g4l"),
    ("3年B組金八先生", "3B-ww4c5e180e575a65lsy2b"),
    ("安室奈美恵-with-SUPER-MONKEYS", "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n"),
    ("Hello-Another-Way-それぞれの場所", "Hello-Another-Way--fc4qua05auwb3674vfr0b"),
    ("ひとつ屋根の下2", "2-u9tlzr9756bt3uc0v"),
    ("MajiでKoiする5秒前", "MajiKoi5-783gue6qz075azm5e"),
    ("パフィーdeルンバ", "de-jg4avhby1noc0d"),
    ("そのスピードで", "d9juau41awczczp"),
    ("-> $1.00 <-", "-> $1.00 <--"),
]

@Suite("Punycode and IDNA")
struct IDNATests {
    @Test("RFC 3492 samples encode", arguments: rfc3492Samples)
    func encodes(unicode: String, expected: String) throws {
        #expect(try Punycode.encode(Array(unicode.unicodeScalars)) == expected)
    }

    @Test("RFC 3492 samples decode back", arguments: rfc3492Samples)
    func decodes(unicode: String, encoded: String) throws {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: try Punycode.decode(encoded))
        #expect(String(view) == unicode)
    }

    @Test("Domains to A-labels", arguments: [
        ("Bücher.example", "xn--bcher-kva.example"),
        ("EXAMPLE.Com", "example.com"),
        ("example.com.", "example.com."),
        ("münchen.DE", "xn--mnchen-3ya.de"),
        ("例え。テスト", "xn--r8jz45g.xn--zckzah"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("ПОЧТА.рф", "xn--80a1acny.xn--p1ai"),
        // Decomposed (NFD) input names the same domain as composed: NFC first.
        ("Bu\u{308}cher.example", "xn--bcher-kva.example"),
        // Lower-cases to ASCII: the ASCII label, never an A-label of it ("xn--k-").
        ("\u{212A}.com", "k.com"),
    ])
    func toASCII(domain: String, expected: String) throws {
        #expect(try IDNA.toASCII(domain) == expected)
    }

    @Test("Bad domains are refused with a code", arguments: [
        ("", IDNAError.Code.emptyLabel),
        ("a..b", .emptyLabel),
        (".a", .emptyLabel),
        ("a b.com", .invalidCharacter),
        ("a@b.com", .invalidCharacter),
        ("b.com\r\nRCPT", .invalidCharacter),
        ("nul\u{0}.com", .invalidCharacter),
        ("-a.com", .invalidHyphen),
        ("a-.com", .invalidHyphen),
        (String(repeating: "a", count: 64) + ".com", .labelTooLong),
        (String(repeating: "ü", count: 60) + ".com", .labelTooLong),
        (Array(repeating: String(repeating: "a", count: 60), count: 5).joined(separator: "."), .nameTooLong),
        ("xn--a-ecp!.com", .invalidCharacter),
        ("xn--99999999999.com", .invalidPunycode),
    ])
    func refuses(domain: String, code: IDNAError.Code) {
        #expect(throws: IDNAError.self) { try IDNA.toASCII(domain) }
        do {
            _ = try IDNA.toASCII(domain)
        } catch {
            #expect(error.code == code)
        }
    }

    /// Regression: the length limits were checked only after punycode encoding, which is
    /// quadratic in the label's distinct code points: one address field from a sign-up
    /// form with tens of thousands of distinct characters kept a core busy for minutes.
    @Test("Huge domains are refused at once, before any punycode work", arguments: [
        (String(String.UnicodeScalarView((0x4E00..<0x4E00 + 40_000).compactMap(Unicode.Scalar.init))) + ".com", IDNAError.Code.labelTooLong),
        (Array(repeating: "\u{4E00}\u{4E01}", count: 200_000).joined(separator: "."), .nameTooLong),
        (String(repeating: "a", count: 1_000_000), .labelTooLong),
    ])
    func hugeInputIsCheap(domain: String, code: IDNAError.Code) async {
        let (cost, refused) = await offThePool { () -> (Duration, IDNAError.Code?) in
            var refused: IDNAError.Code?
            let cost = threadCPUTime {
                do throws(IDNAError) { _ = try IDNA.toASCII(domain) } catch { refused = error.code }
            }
            return (cost, refused)
        }
        #expect(refused == code, "a huge domain must be refused")
        // Minutes of CPU before the fix; a second is plenty, a sanitizer build gets more.
        #expect(cost < TimingScale.scaled(.seconds(1)))
    }

    @Test("A 63-byte A-label is the longest accepted")
    func labelBoundary() throws {
        let sixtyThree = String(repeating: "a", count: 63)
        #expect(try IDNA.toASCII("\(sixtyThree).com") == "\(sixtyThree).com")
    }

    @Test("toUnicode reverses toASCII")
    func roundTrip() throws {
        #expect(try IDNA.toUnicode("xn--bcher-kva.example") == "bücher.example")
    }

    @Test("Punycode errors show no control character")
    func punycodeErrorIsPrintable() {
        do throws(IDNAError) {
            _ = try IDNA.toUnicode("xn--\u{1B}[31m")
            Issue.record("decoded garbage")
        } catch {
            #expect(!error.message.unicodeScalars.contains { $0.value < 0x20 })
        }
    }

    @Test("toUnicode refuses over-long input before decoding", arguments: [
        ("xn--" + String(repeating: "a", count: 100) + ".com", IDNAError.Code.labelTooLong),
        ("xn--" + String(repeating: "a", count: 100_000), .nameTooLong),
        (Array(repeating: "xn--bcher-kva", count: 50).joined(separator: "."), .nameTooLong),
    ])
    func toUnicodeBounds(domain: String, code: IDNAError.Code) {
        do throws(IDNAError) {
            _ = try IDNA.toUnicode(domain)
            Issue.record("decoded an over-long domain")
        } catch {
            #expect(error.code == code)
        }
    }
}

/// The CPU time the calling thread spends in `work`: what a bound on the cost of work
/// measures. Wall time would add the time the thread waited for a core, which on a loaded
/// machine (a parallel `swift test`, other builds) is seconds and no part of the work.
func threadCPUTime(_ work: () -> Void) -> Duration {
    func now() -> Duration {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
    }
    let start = now()
    work()
    return now() - start
}

/// Runs CPU-heavy test work on a Dispatch thread of its own, not on the cooperative pool
/// (two threads on two cores), which a parallel `swift test` needs for every timed test.
func offThePool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { done in DispatchQueue(label: "offThePool").async { done.resume(returning: work()) } }
}
