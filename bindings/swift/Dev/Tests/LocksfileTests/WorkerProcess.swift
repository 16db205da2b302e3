import Foundation
import XCTest

/// A worker process driven by a test (Swift's own worker, or the Python one): exclusion is
/// always observed from another process.
final class WorkerProcess {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffer = Data()

    /// The Swift worker: `LOCKSFILE_SWIFT_WORKER`, or the executable beside the test bundle.
    static var swiftCommand: [String] {
        if let named = ProcessInfo.processInfo.environment["LOCKSFILE_SWIFT_WORKER"] { return [named] }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return [bundle.appendingPathComponent("locksfile-swift-worker").path]
    }

    /// The Python worker (`LOCKSFILE_PYTHON_WORKER`, a command line); its absence fails the test.
    static func pythonCommand() throws -> [String] {
        guard let command = ProcessInfo.processInfo.environment["LOCKSFILE_PYTHON_WORKER"] else {
            // A leg that cannot run fails: `cargo make test-swift` sets it.
            throw NSError(domain: "worker", code: 2, userInfo: [NSLocalizedDescriptionKey: "LOCKSFILE_PYTHON_WORKER is not set"])
        }
        return command.split(separator: " ").map(String.init)
    }

    init(_ command: [String], path: String, scope: String = "open-file") throws {
        // A worker that died must fail its test (no reply), not kill the whole run with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let reply = ask("open \(path) \(scope)")
        guard reply == "ok" else { throw NSError(domain: "worker", code: 1, userInfo: [NSLocalizedDescriptionKey: reply]) }
    }

    var pid: Int32 { process.processIdentifier }

    func send(_ command: String) {
        try? input.fileHandleForWriting.write(contentsOf: Data((command + "\n").utf8))
    }

    /// The next reply line (waits at most `timeout`; nil when none came).
    func reply(timeout: Duration = .seconds(20)) -> String? {
        let deadline = ContinuousClock.now + timeout
        let fd = output.fileHandleForReading.fileDescriptor
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                return line
            }
            let left = deadline - ContinuousClock.now
            if left <= .zero { return nil }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let millis = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1
            if poll(&poller, 1, Int32(clamping: millis)) > 0 {
                var chunk = [UInt8](repeating: 0, count: 4096)
                let n = read(fd, &chunk, chunk.count)
                if n <= 0 { return nil }
                buffer.append(contentsOf: chunk[0..<n])
            }
        }
    }

    func ask(_ command: String) -> String {
        send(command)
        return reply() ?? "no reply"
    }

    func canTake(_ mode: String, _ range: String) -> Bool {
        switch ask("acquire \(mode) \(range) try") {
        case "ok": _ = ask("release \(range)"); return true
        case "busy": return false
        case let other: XCTFail("unexpected reply \(other)"); return false
        }
    }

    deinit {
        send("quit")
        process.waitUntilExit()
    }
}
