// swift-tools-version: 6.2
//
// DirectSMTPPostgres: a PostgreSQL table as DirectSMTP's delivery queue store, so several
// app servers share one queue (claimed with leases, `FOR UPDATE SKIP LOCKED`).

import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "DirectSMTPPostgres",
    products: [
        .library(name: "DirectSMTPPostgres", targets: ["DirectSMTPPostgres"]),
        .executable(name: "directsmtp-postgres", targets: ["directsmtp-postgres"]),
        .executable(name: "directsmtp-postgres-bench", targets: ["directsmtp-postgres-bench"]),
    ],
    dependencies: [
        .package(name: "DirectSMTP", path: "../.."),
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
    ],
    targets: [
        .target(
            name: "DirectSMTPPostgres",
            dependencies: [
                .product(name: "DirectSMTP", package: "DirectSMTP"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: strict
        ),
        // Every `directsmtp` command, with `--queue postgresql://…` as well as a path.
        .executableTarget(
            name: "directsmtp-postgres",
            dependencies: [
                "DirectSMTPPostgres",
                .product(name: "DirectSMTP", package: "DirectSMTP"),
                .product(name: "DirectSMTPCommandLine", package: "DirectSMTP"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "directsmtp-postgres-bench",
            dependencies: [
                "DirectSMTPPostgres",
                .product(name: "DirectSMTP", package: "DirectSMTP"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Benchmarks/directsmtp-postgres-bench",
            swiftSettings: strict
        ),
        // A queue worker process for the multi-process tests.
        .executableTarget(
            name: "directsmtp-postgres-test-worker",
            dependencies: [
                "DirectSMTPPostgres",
                .product(name: "DirectSMTP", package: "DirectSMTP"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/directsmtp-postgres-test-worker",
            swiftSettings: strict
        ),
        .testTarget(
            name: "DirectSMTPPostgresTests",
            dependencies: [
                "DirectSMTPPostgres",
                "directsmtp-postgres-test-worker",
                "directsmtp-postgres",
                .product(name: "DirectSMTP", package: "DirectSMTP"),
                .product(name: "DirectSMTPTesting", package: "DirectSMTP"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: strict
        ),
    ]
)
