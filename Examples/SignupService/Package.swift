// swift-tools-version: 6.2
//
// SignupService: a sign-up flow built on DirectSMTP. A new member types an email address;
// the server hands the verification code straight to the recipient's mail server and
// answers the form at once with what the outcome means to a person. Sign-ups and the mail
// queue live in SQLite by default, or in PostgreSQL when DATABASE_URL names a server.

import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "SignupService",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "signup-service", targets: ["SignupService"]),
        .executable(name: "signup-demo", targets: ["signup-demo"]),
    ],
    dependencies: [
        .package(name: "DirectSMTP", path: "../.."),
        .package(name: "DirectSMTPPostgres", path: "../../Integrations/DirectSMTPPostgres"),
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        // The application: routes, pages, pending sign-ups, the mailer service.
        .target(
            name: "SignupApp",
            dependencies: [
                .product(name: "DirectSMTP", package: "DirectSMTP"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "DirectSMTPPostgres", package: "DirectSMTPPostgres"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "SignupService",
            dependencies: ["SignupApp"],
            swiftSettings: strict
        ),
        // Mock DNS and SMTP servers on loopback set up for the six scenarios: for the tests
        // and the browser demo.
        .target(
            name: "SignupMockWorld",
            dependencies: [
                "SignupApp",
                .product(name: "DirectSMTPTesting", package: "DirectSMTP"),
            ],
            swiftSettings: strict
        ),
        // The service against the mock world, with a mock inbox route: for the browser test.
        .executableTarget(
            name: "signup-demo",
            dependencies: ["SignupApp", "SignupMockWorld"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SignupAppTests",
            dependencies: [
                "SignupApp",
                "SignupMockWorld",
                .product(name: "DirectSMTP", package: "DirectSMTP"),
                .product(name: "DirectSMTPTesting", package: "DirectSMTP"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
    ]
)
