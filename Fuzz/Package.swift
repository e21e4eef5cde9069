// swift-tools-version: 6.2
//
// libFuzzer harnesses: the DNS wire decoder, SMTP replies through the parser and the
// client state machine, form input through EmailAddress, IDNA and the composer, journal
// recovery, and DKIM's relaxed canonicalization. A
// separate package so the root build never sees -sanitize=fuzzer. Build and run each
// target for 30 s on a copy of its committed seed corpus (Corpus/<Target>/), as CI does:
//
//   Fuzz/run.sh 30
//
// or by hand (from this folder):
//
//   swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -enable-testing
//   .build/release/DNSDecoderFuzzer /tmp/dns-corpus Corpus/DNSDecoderFuzzer -max_total_time=60
//
// Grown corpora and crash files stay out of git (under /tmp or a /fuzz-*/ folder); add a
// seed to Corpus/ only when it covers something the seeds do not.

import PackageDescription

let package = Package(
    name: "DirectSMTPFuzz",
    dependencies: [.package(name: "DirectSMTP", path: "..")],
    targets: [
        // libFuzzer's driver, shared.
        .target(name: "FuzzDriver", swiftSettings: [.swiftLanguageMode(.v6)]),
        // The DirectSMTP library product brings DNSClient, SMTPClient and IDNA with it.
        .executableTarget(
            name: "DNSDecoderFuzzer",
            dependencies: ["FuzzDriver", .product(name: "DirectSMTP", package: "DirectSMTP")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Hostile server replies through the reply parser and the client state machine.
        .executableTarget(
            name: "SMTPReplyFuzzer",
            dependencies: ["FuzzDriver", .product(name: "DirectSMTP", package: "DirectSMTP")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Form input through EmailAddress, IDNA and the message composer.
        .executableTarget(
            name: "AddressFuzzer",
            dependencies: ["FuzzDriver", .product(name: "DirectSMTP", package: "DirectSMTP")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Damaged journal files through recovery (JournalScanner, internal: @testable).
        .executableTarget(
            name: "JournalRecoveryFuzzer",
            dependencies: ["FuzzDriver", .product(name: "DirectSMTP", package: "DirectSMTP")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Header fields and bodies through DKIM's relaxed canonicalization.
        .executableTarget(
            name: "DKIMCanonicalizationFuzzer",
            dependencies: ["FuzzDriver", .product(name: "DirectSMTP", package: "DirectSMTP")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
