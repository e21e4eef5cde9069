// swift-tools-version: 6.2
//
// libFuzzer harness for the DNS wire decoder. A separate package so the root build never
// sees -sanitize=fuzzer. Build and run (from this folder):
//
//   swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   mkdir -p /tmp/dns-fuzz-corpus
//   .build/release/DNSDecoderFuzzer /tmp/dns-fuzz-corpus -max_total_time=60
//
// Corpora and crash files stay out of git (keep them under /tmp or a /fuzz-*/ folder).

import PackageDescription

let package = Package(
    name: "DirectSMTPFuzz",
    dependencies: [.package(name: "DirectSMTP", path: "..")],
    targets: [
        // Links the DirectSMTP library product, which brings DNSClient with it.
        .executableTarget(
            name: "DNSDecoderFuzzer",
            dependencies: [.product(name: "DirectSMTP", package: "DirectSMTP")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)
