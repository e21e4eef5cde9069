// swift-tools-version: 6.2
//
// DirectSMTP: hand a verification email straight to the recipient domain's MX server
// and learn, within a bounded time, whether it was accepted, rejected or deferred.
// Toolchain only: no package dependencies. STARTTLS and DKIM use the system's OpenSSL
// (libssl-dev) behind the default-on trait `OpenSSL`; `--disable-default-traits` builds
// without it (no TLS, no DKIM).

import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "DirectSMTP",
    products: [
        .library(name: "DirectSMTP", targets: ["DirectSMTP"]),
        .library(name: "DirectSMTPTesting", targets: ["DirectSMTPTesting"]),
        .library(name: "DirectSMTPCommandLine", targets: ["DirectSMTPCommandLine"]),
        .executable(name: "directsmtp", targets: ["directsmtp"]),
        .executable(name: "directsmtp-bench", targets: ["directsmtp-bench"]),
    ],
    traits: [
        .trait(
            name: "OpenSSL",
            description: "STARTTLS and DKIM signing through the system's OpenSSL (libssl, libcrypto)."
        ),
        .default(enabledTraits: ["OpenSSL"]),
    ],
    // A target lists each Swift module it imports, not only those it reaches through
    // another: SwiftPM's incremental build recompiles a target when a module it lists
    // changes, and may skip one that only imports a module its dependencies bring in. A
    // change that keeps a symbol's name but not its calling convention
    // (`nonisolated(nonsending)`) then links stale callers without complaint, and they crash
    // at run time.
    targets: [
        // The system's libssl and libcrypto, used only with the `OpenSSL` trait.
        .systemLibrary(
            name: "COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .yum(["openssl-devel"])]
        ),
        // sys/epoll.h and sys/eventfd.h, which Glibc does not export to Swift.
        .target(name: "CSystemShims"),
        // One epoll thread, nonblocking fds behind async/await, deadlines, cancellation.
        .target(
            name: "Sockets",
            dependencies: [
                "CSystemShims",
                .target(name: "COpenSSL", condition: .when(traits: ["OpenSSL"])),
            ],
            swiftSettings: strict
        ),
        // IDN domains to A-labels (punycode, RFC 3492), shared by DNS and SMTP.
        .target(name: "IDNA", swiftSettings: strict),
        // DNS wire codec, resolv.conf, UDP/TCP transport, the MXResolver actor.
        .target(name: "DNSClient", dependencies: ["Sockets", "IDNA"], swiftSettings: strict),
        // Addresses, message composer, reply parser, state machine, SMTPSession actor.
        .target(name: "SMTPClient", dependencies: ["Sockets", "IDNA"], swiftSettings: strict),
        // DKIM signing (RFC 6376, RFC 8463): relaxed canonicalization, keys and signatures
        // through libcrypto; without the `OpenSSL` trait a key cannot be loaded.
        .target(
            name: "DKIM",
            dependencies: [
                "SMTPClient",
                .target(name: "COpenSSL", condition: .when(traits: ["OpenSSL"])),
            ],
            swiftSettings: strict
        ),
        // SPF evaluation (RFC 7208) over an injectable lookup, for `directsmtp doctor`.
        .target(name: "SPF", dependencies: ["DNSClient", "Sockets"], swiftSettings: strict),
        // The product: VerificationCoordinator, outcomes, DeliveryQueue and its stores.
        .target(
            name: "DirectSMTP",
            dependencies: ["Sockets", "DNSClient", "SMTPClient", "DKIM"],
            swiftSettings: strict + [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
        ),
        // In-process mock SMTP and DNS servers, for our tests and for our users' tests.
        .target(
            name: "DirectSMTPTesting",
            dependencies: [
                "Sockets", "DNSClient", "SMTPClient", "DirectSMTP",
                // Self-signed certificates made at test time for the mock's STARTTLS.
                .target(name: "COpenSSL", condition: .when(traits: ["OpenSSL"])),
            ],
            swiftSettings: strict
        ),
        // The `directsmtp` commands as a library, so a program with a queue store of its
        // own (Integrations/DirectSMTPPostgres's `directsmtp-postgres`) runs the same ones.
        .target(
            name: "DirectSMTPCommandLine",
            dependencies: ["Sockets", "DNSClient", "SMTPClient", "DirectSMTP", "DirectSMTPTesting", "DKIM", "SPF"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "directsmtp",
            dependencies: ["DirectSMTPCommandLine"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "directsmtp-bench",
            dependencies: [
                "Sockets", "DNSClient", "SMTPClient", "DirectSMTP", "DirectSMTPTesting", "DKIM",
            ],
            path: "Benchmarks/directsmtp-bench",
            swiftSettings: strict
        ),
        // posix_spawn for the tests that run our executables (Tests/ChildProcess says
        // why not Foundation's Process), with its C shim; neither is in a product.
        .target(name: "CChildProcess", path: "Tests/CChildProcess"),
        .target(
            name: "ChildProcess", dependencies: ["CChildProcess", "Sockets"], path: "Tests/ChildProcess",
            swiftSettings: strict
        ),
        // Bounds how many test cases a parallel `swift test` runs at once (Tests/CTestRunWidth
        // says why); linked into the test bundle through DirectSMTPTests.
        .target(name: "CTestRunWidth", path: "Tests/CTestRunWidth"),
        // Test keys (RFC 8463's among them) shared by the DKIM and the CLI tests; in no
        // product, so they never become the library's API.
        .target(name: "TestKeys", path: "Tests/TestKeys", swiftSettings: strict),
        .testTarget(
            name: "SocketsTests", dependencies: ["Sockets", "DirectSMTPTesting"], swiftSettings: strict
        ),
        .testTarget(
            name: "DNSClientTests",
            dependencies: ["DNSClient", "IDNA", "Sockets", "DirectSMTPTesting", "ChildProcess"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SMTPClientTests",
            dependencies: ["SMTPClient", "IDNA", "Sockets", "DirectSMTPTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SPFTests", dependencies: ["SPF", "DNSClient", "Sockets", "DirectSMTPTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "DKIMTests", dependencies: ["DKIM", "SMTPClient", "TestKeys"], swiftSettings: strict
        ),
        .testTarget(
            name: "DirectSMTPTests",
            dependencies: [
                "Sockets", "DNSClient", "SMTPClient", "DirectSMTP", "DirectSMTPTesting", "ChildProcess", "TestKeys",
                "CTestRunWidth",
            ],
            swiftSettings: strict
        ),
    ]
)
