// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "accessctl",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "accessctl", targets: ["accessctl"]),
        .executable(name: "install-service-env", targets: ["install-service-env"]),
        .executable(name: "token-service-mock", targets: ["token-service-mock"]),
        .library(name: "AccessCore", targets: ["AccessCore"]),
        .library(name: "StrictYAML", targets: ["StrictYAML"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/swhitty/FlyingFox", from: "0.27.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
    ],
    targets: [
        // C libraries: each is imported by exactly one Swift module.
        .systemLibrary(
            name: "CGit2",
            pkgConfig: "libgit2",
            providers: [.apt(["libgit2-dev"])]
        ),
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        .target(
            name: "GitStore",
            dependencies: ["CGit2", .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["README.md"]
        ),
        .target(name: "StrictYAML", dependencies: ["CYAML"], exclude: ["README.md"]),
        .target(name: "AccessModel", dependencies: ["Digest"], exclude: ["README.md"]),
        .target(
            name: "AccessCore",
            dependencies: [
                "AccessModel", "StrictYAML", "GitStore", "HelperProtocol", "Digest",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["README.md"]
        ),
        // The root helper: no dependency on the reconciler's modules or any system C library;
        // its only package dependency is swift-crypto (BoringSSL, compiled in) for SHA-256.
        .target(
            name: "Digest",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            exclude: ["README.md"]
        ),
        .target(name: "HelperProtocol", dependencies: ["Digest"], exclude: ["README.md"]),
        .target(name: "HelperCore", dependencies: ["HelperProtocol"], exclude: ["README.md"]),
        .executableTarget(name: "install-service-env", dependencies: ["HelperCore"], exclude: ["README.md"]),
        .executableTarget(
            name: "accessctl",
            dependencies: [
                "AccessCore",
                "AccessModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["README.md"]
        ),
        // A token-exchange service for tests and the demo (loopback only).
        .executableTarget(
            name: "token-service-mock",
            dependencies: [
                "Digest",
                .product(name: "FlyingFox", package: "FlyingFox"),
                .product(name: "FlyingSocks", package: "FlyingFox"),
            ],
            exclude: ["README.md"]
        ),
        // Shared test helpers: scratch directories, git repositories, running executables.
        .target(name: "TestSupport", dependencies: ["AccessCore", "AccessModel", "HelperProtocol"], path: "Tests/TestSupport"),
        // Benchmark support: a converged database and homes for a synthetic repository.
        .executableTarget(name: "accessctl-bench-seed", dependencies: ["TestSupport", "AccessCore"], path: "bench/seed"),
        .testTarget(name: "StrictYAMLTests", dependencies: ["StrictYAML"]),
        .testTarget(name: "AccessModelTests", dependencies: ["AccessModel"]),
        .testTarget(name: "GitStoreTests", dependencies: ["GitStore", "TestSupport"]),
        .testTarget(name: "HelperTests", dependencies: ["HelperProtocol", "TestSupport"]),
        .testTarget(
            name: "AccessCoreTests",
            dependencies: ["AccessCore", "AccessModel", "GitStore", "TestSupport",
                           .product(name: "FlyingFox", package: "FlyingFox")]
        ),
        .testTarget(name: "TokenServiceMockTests", dependencies: ["TestSupport"]),
        .testTarget(
            name: "AccessctlEndToEndTests",
            dependencies: ["TestSupport", "AccessCore", "AccessModel", "HelperProtocol"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
