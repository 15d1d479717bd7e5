// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "accessctl",
    // macOS 15 for Synchronization.Mutex; Linux is the tested platform (README).
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "accessctl", targets: ["accessctl"]),
        .executable(name: "install-service-env", targets: ["install-service-env"]),
        .executable(name: "token-service-mock", targets: ["token-service-mock"]),
        .library(name: "DesiredRepo", targets: ["DesiredRepo"]),
        .library(name: "RepoFormat", targets: ["RepoFormat"]),
        .library(name: "Reconciler", targets: ["Reconciler"]),
        .library(name: "TokenProtocol", targets: ["TokenProtocol"]),
        .library(name: "StrictYAML", targets: ["StrictYAML"]),
        // For the fuzz targets (fuzz/Package.swift).
        .library(name: "AccessModel", targets: ["AccessModel"]),
        .library(name: "TokenExchange", targets: ["TokenExchange"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/swhitty/FlyingFox", from: "0.27.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        // HTTP for the token exchange (TokenExchange), with SwiftNIO and its TLS underneath.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.100.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
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
        // The only reconciler module that imports Glibc/Darwin.
        .target(name: "Platform", exclude: ["README.md"]),
        .target(
            name: "GitStore",
            dependencies: ["CGit2", "Platform", .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["README.md"]
        ),
        .target(name: "StrictYAML", dependencies: ["CYAML"], exclude: ["README.md"]),
        .target(name: "AccessModel", dependencies: ["Digest"], exclude: ["README.md"]),
        .target(
            name: "KeyCustody",
            dependencies: ["Digest", "Platform", .product(name: "Crypto", package: "swift-crypto")],
            exclude: ["README.md"]
        ),
        .target(name: "AccessQueries", dependencies: ["AccessModel"], exclude: ["README.md"]),
        // The reconciler's libraries, one job each (docs/architecture.md draws the arrows).
        .target(
            name: "DesiredRepo",
            dependencies: ["AccessModel", "StrictYAML", "GitStore", "Platform", "Digest"],
            exclude: ["README.md"]
        ),
        .target(
            name: "LiveStore",
            dependencies: ["AccessModel", "Digest", "Platform", "KeyCustody", .product(name: "GRDB", package: "GRDB.swift")],
            exclude: ["README.md"]
        ),
        .target(name: "HomesClient", dependencies: ["AccessModel", "HelperProtocol", "ProcessRunner"], exclude: ["README.md"]),
        // Spawning child processes (the helper, ssh-keygen): swift-subprocess, with caps and time limits.
        .target(
            name: "ProcessRunner",
            dependencies: ["Platform", .product(name: "Subprocess", package: "swift-subprocess")],
            exclude: ["README.md"]
        ),
        // The protocol's values and answer checks, without SwiftNIO (fuzzed on their own).
        .target(name: "TokenProtocol", dependencies: ["AccessModel"], exclude: ["README.md"]),
        .target(
            name: "TokenExchange",
            dependencies: [
                "AccessModel", "DesiredRepo", "Platform", "TokenProtocol",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            exclude: ["README.md"]
        ),
        .target(
            name: "RepoFormat",
            dependencies: ["AccessModel", "StrictYAML", "DesiredRepo", "LiveStore", "Platform", "Digest"],
            exclude: ["README.md"]
        ),
        .target(name: "Render", dependencies: ["AccessModel", "AccessQueries", "DesiredRepo", "LiveStore"], exclude: ["README.md"]),
        .target(
            name: "Reconciler",
            dependencies: [
                "AccessModel", "StrictYAML", "GitStore", "DesiredRepo", "LiveStore", "KeyCustody", "TokenExchange", "TokenProtocol",
                "HomesClient", "Render", "Digest", "ProcessRunner", "Platform",
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
        // The command line: parse arguments, call the libraries, print (docs/architecture.md).
        .target(
            name: "AccessctlCLI",
            dependencies: [
                "AccessModel", "AccessQueries", "DesiredRepo", "LiveStore", "KeyCustody", "TokenExchange", "TokenProtocol", "HomesClient", "RepoFormat", "Render",
                "Reconciler", "Platform", "GitStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["README.md"]
        ),
        .executableTarget(name: "accessctl", dependencies: ["AccessctlCLI"], exclude: ["README.md"]),
        // The same command line with the test crash points (ACCESSCTL_FAULT) installed; tests only.
        .executableTarget(name: "accessctl-faults", dependencies: ["AccessctlCLI", "Reconciler"], path: "Tests/FaultHarness"),
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
        .target(
            name: "TestSupport",
            dependencies: [
                "AccessModel", "DesiredRepo", "LiveStore", "KeyCustody", "TokenExchange", "HomesClient", "RepoFormat", "Render", "Reconciler",
                "HelperProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Tests/TestSupport"
        ),
        // Benchmark support: a converged database and homes for a synthetic repository.
        .executableTarget(name: "accessctl-bench-seed", dependencies: ["TestSupport", "KeyCustody", "DesiredRepo", "LiveStore", "TokenExchange", "TokenProtocol", "HomesClient", "RepoFormat", "Render", "Reconciler"], path: "bench/seed"),
        .testTarget(name: "StrictYAMLTests", dependencies: ["StrictYAML"]),
        .testTarget(name: "AccessModelTests", dependencies: ["AccessModel"]),
        .testTarget(name: "AccessQueriesTests", dependencies: ["AccessQueries", "AccessModel"]),
        .testTarget(name: "PlatformTests", dependencies: ["Platform", "TestSupport"]),
        .testTarget(name: "GitStoreTests", dependencies: ["GitStore", "TestSupport"]),
        .testTarget(name: "HelperTests", dependencies: ["HelperProtocol", "TestSupport"]),
        .testTarget(name: "DesiredRepoTests", dependencies: ["DesiredRepo", "AccessModel", "GitStore", "TestSupport"]),
        .testTarget(name: "RepoFormatTests", dependencies: ["RepoFormat", "DesiredRepo", "LiveStore", "AccessModel", "TestSupport"]),
        .testTarget(name: "LiveStoreTests", dependencies: ["LiveStore", "KeyCustody", "DesiredRepo", "AccessModel", "TestSupport"]),
        .testTarget(name: "RenderTests", dependencies: ["Render", "TokenExchange", "TokenProtocol", "AccessModel", "TestSupport"]),
        .testTarget(name: "HelperCoreTests", dependencies: ["HelperCore", "HelperProtocol", "TestSupport"]),
        .testTarget(
            name: "TokenExchangeTests",
            dependencies: ["TokenExchange", "TokenProtocol", "AccessModel", "TestSupport", .product(name: "FlyingFox", package: "FlyingFox")]
        ),
        .testTarget(name: "ProcessRunnerTests", dependencies: ["ProcessRunner"]),
        .testTarget(name: "HomesClientTests", dependencies: ["HomesClient", "HelperProtocol"]),
        .testTarget(name: "TokenServiceMockTests", dependencies: ["TestSupport"]),
        .testTarget(
            name: "AccessctlEndToEndTests",
            dependencies: ["TestSupport", "AccessctlCLI", "GitStore", "DesiredRepo", "LiveStore", "KeyCustody", "TokenExchange", "TokenProtocol", "HomesClient", "RepoFormat", "Render", "Reconciler", "AccessModel", "HelperProtocol"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
