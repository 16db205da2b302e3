// swift-tools-version:6.0
// The repository's own Swift package: the tests, the worker of the cross-language tests and the
// benchmark. It depends on the shipped package by path, as a user's package does, and builds with
// plain `swift build` (`cargo make swift-package` puts both side by side in target/swift/).
// The tests reach the layer's internals with `@testable import` (debug builds); the benchmark, a
// release build, reads the direct path's token through `@_spi(Bench)`.
import PackageDescription

let package = Package(
    name: "LocksfileDev",
    products: [
        .executable(name: "locksfile-swift-worker", targets: ["Worker"]),
        .executable(name: "Bench", targets: ["Bench"]),
    ],
    dependencies: [
        .package(path: "../Locksfile"),
    ],
    targets: [
        // A worker process speaking the project's test protocol (for the tests and tests/cross).
        .executableTarget(
            name: "Worker",
            dependencies: [.product(name: "Locksfile", package: "Locksfile")],
            path: "Sources/Worker",
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // `cargo make bench-swift`: the Swift API against raw fcntl from Swift.
        .executableTarget(
            name: "Bench",
            dependencies: [.product(name: "Locksfile", package: "Locksfile")],
            path: "Sources/Bench",
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        .testTarget(
            name: "LocksfileTests",
            dependencies: [.product(name: "Locksfile", package: "Locksfile")],
            path: "Tests/LocksfileTests",
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
    ]
)
