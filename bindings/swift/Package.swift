// swift-tools-version:5.9
// The Swift package of locksfile. `cargo make swift-package` assembles it in target/swift/Locksfile
// with the generated bindings (never committed): Sources/LocksfileFFI/LocksfileFFI.h and
// Sources/LocksfileGenerated/Generated.swift. Link with -L<dir of liblocksfile_ffi.so>.
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
        // uniffi's generated Swift, a module of its own: users import Locksfile, which re-exports
        // only the types they need, so the generated class and its methods are out of their sight.
        .target(name: "LocksfileGenerated", dependencies: ["LocksfileFFI"], path: "Sources/LocksfileGenerated"),
        // The Swift layer: LocksFile, wrapping the generated class, and the direct call path.
        .target(name: "Locksfile", dependencies: ["LocksfileGenerated", "LocksfileFFI"], path: "Sources/Locksfile"),
        // A worker process speaking the project's test protocol (for the tests and tests/).
        .executableTarget(name: "Worker", dependencies: ["Locksfile"], path: "Sources/Worker"),
        // `cargo make bench-swift`: the Swift API against raw fcntl from Swift.
        .executableTarget(name: "Bench", dependencies: ["Locksfile", "LocksfileFFI"], path: "Sources/Bench"),
        .testTarget(name: "LocksfileTests", dependencies: ["Locksfile", "LocksfileFFI"], path: "Tests/LocksfileTests"),
    ]
)
