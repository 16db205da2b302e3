// swift-tools-version:6.0
// The Swift package of locksfile, as users get it. `cargo make swift-package` assembles it,
// self-contained, in target/swift/Locksfile (and target/swift/Locksfile-VERSION.tar.gz) with what
// is never committed: the generated bindings (Sources/LocksfileFFI/LocksfileFFI.h and
// Sources/LocksfileGenerated/Generated.swift) and the Rust library as a static archive,
// lib/liblocksfile_ffi.a. A program depends on it by path and builds with plain `swift build`:
//
//     .package(path: "/path/to/Locksfile"),
//     .executableTarget(name: "App", dependencies: [.product(name: "Locksfile", package: "Locksfile")])
//
// How the Rust library is found, and why this way (SwiftPM 6.0 on Linux):
// - The archive is linked into the user's program, so the program needs nothing at run time (no
//   rpath, no LD_LIBRARY_PATH) and keeps working when the package moves.
// - SwiftPM has no safe setting for a library search path. `binaryTarget` takes no library on
//   Linux (XCFrameworks are Apple-only; Linux artifact bundles hold executables), and a
//   `systemLibrary` with `pkgConfig:` finds its .pc file only through PKG_CONFIG_PATH or the
//   system's directories: an installation step, not a plain `swift build`.
// - So the search path is an unsafe flag, computed from where this package is. SwiftPM refuses
//   unsafe flags only in dependencies resolved by version from a registry or a repository's tags;
//   a root package and a dependency by path (or by branch or revision) may use them
//   (swift-package-manager#2254, and checked with Swift 6.0.3 by `cargo make test-swift`, whose
//   consumer package depends on this one by path). This package is shipped as a directory or an
//   archive, never by tag: its generated parts are not in the repository.
import PackageDescription

let lib = Context.packageDirectory + "/lib"

let package = Package(
    name: "Locksfile",
    // The one product: the Swift layer. The generated module and the C declarations are the
    // package's own (Worker, Bench and the tests are in the repository's test package,
    // bindings/swift/Dev, which depends on this one like any user's package).
    products: [
        .library(name: "Locksfile", targets: ["Locksfile"]),
    ],
    targets: [
        // The C declarations of the FFI (generated header and FastLane.h) and `link "locksfile_ffi"`.
        .systemLibrary(name: "LocksfileFFI", path: "Sources/LocksfileFFI"),
        // uniffi's generated Swift, a module of its own with every declaration `package`: only the
        // targets of this package see it (a user's module does not, even when it imports it).
        .target(
            name: "LocksfileGenerated",
            dependencies: ["LocksfileFFI"],
            path: "Sources/LocksfileGenerated",
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
        // The Swift layer: LocksFile, wrapping the generated class, and the direct call path.
        .target(
            name: "Locksfile",
            dependencies: ["LocksfileGenerated", "LocksfileFFI"],
            path: "Sources/Locksfile",
            linkerSettings: [
                .unsafeFlags(["-L", lib]),
                // What the Rust standard library in the archive needs (rustc --print native-static-libs;
                // glibc has the rest): the unwinder.
                .linkedLibrary("gcc_s"),
            ]
        ),
    ]
)
