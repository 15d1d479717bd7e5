// swift-tools-version:6.0
// libFuzzer targets for accessctl's parsers. Built and run by fuzz/run (see docs/security.md):
// every module is compiled with -sanitize=fuzzer,address from the command line.
import PackageDescription

let package = Package(
    name: "accessctl-fuzz",
    dependencies: [.package(name: "accessctl", path: "..")],
    targets: [
        .target(name: "FuzzDriver"),
        .executableTarget(
            name: "fuzz-strictyaml",
            dependencies: ["FuzzDriver", .product(name: "StrictYAML", package: "accessctl")]
        ),
        .executableTarget(
            name: "fuzz-loader",
            dependencies: [
                "FuzzDriver",
                .product(name: "DesiredRepo", package: "accessctl"),
                .product(name: "RepoFormat", package: "accessctl"),
            ]
        ),
        .executableTarget(
            name: "fuzz-tokenresponse",
            dependencies: [
                "FuzzDriver",
                .product(name: "AccessModel", package: "accessctl"),
                .product(name: "TokenProtocol", package: "accessctl"),
            ]
        ),
    ]
)
