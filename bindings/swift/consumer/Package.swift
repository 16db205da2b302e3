// swift-tools-version:6.0
// A user's package, as the README shows it: `check` copies this directory to a fresh directory
// under /tmp, puts the path of the Locksfile package in place of LOCKSFILE_PACKAGE, and runs plain
// `swift build` and `swift run` there.
import PackageDescription

let package = Package(
    name: "Consumer",
    dependencies: [
        .package(path: "LOCKSFILE_PACKAGE"),
    ],
    targets: [
        .executableTarget(name: "Consumer", dependencies: [.product(name: "Locksfile", package: "Locksfile")]),
    ]
)
