// swift-tools-version:5.9
// The Swift package of locksfile. `cargo make swift-package` assembles it in target/swift/Locksfile
// with the generated bindings (never committed): Sources/LocksfileFFI/LocksfileFFI.h and
// Sources/Locksfile/Generated.swift. Link with -L<dir of liblocksfile_ffi.so>.
import PackageDescription

let package = Package(
    name: "Locksfile",
    products: [
        .library(name: "Locksfile", targets: ["Locksfile"]),
        .executable(name: "locksfile-swift-worker", targets: ["Worker"]),
    ],
    targets: [
        // The C declarations of the FFI (generated header) and `link "locksfile_ffi"`.
        .systemLibrary(name: "LocksfileFFI", path: "Sources/LocksfileFFI"),
        // The generated Swift plus the hand-written idioms.
        .target(name: "Locksfile", dependencies: ["LocksfileFFI"], path: "Sources/Locksfile"),
        // A worker process speaking the project's test protocol (for the tests and tests/).
        .executableTarget(name: "Worker", dependencies: ["Locksfile"], path: "Sources/Worker"),
        // `cargo make bench-swift`: the Swift API against raw fcntl from Swift.
        .executableTarget(name: "Bench", dependencies: ["Locksfile", "LocksfileFFI"], path: "Sources/Bench"),
        .testTarget(name: "LocksfileTests", dependencies: ["Locksfile"], path: "Tests/LocksfileTests"),
    ]
)
