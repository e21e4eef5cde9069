// swift-tools-version: 6.2
//
// libFuzzer harnesses: the DNS wire decoder, SMTP replies through the parser and the
// client state machine, and form input through EmailAddress, IDNA and the composer. A
// separate package so the root build never sees -sanitize=fuzzer. Build and run (from
// this folder):
//
//   swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   mkdir -p /tmp/dns-fuzz-corpus
//   .build/release/DNSDecoderFuzzer /tmp/dns-fuzz-corpus -max_total_time=60
//   (likewise SMTPReplyFuzzer and AddressFuzzer, each with a corpus folder of its own)
//
// Corpora and crash files stay out of git (keep them under /tmp or a /fuzz-*/ folder).

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
    ]
)
