import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A test with a fresh lock-file path, its workers, and a time limit: XCTest on Linux has none
/// (no `executionTimeAllowance`), so a hang must not stall the run silently.
class LocksfileTestCase: XCTestCase {
    /// How long one test may run, in seconds, before it counts as hung.
    class var timeLimit: Int { 90 }

    var path = ""
    private var watchdog: DispatchSourceTimer?

    override func setUp() {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("locksfile-swift-\(UUID())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        path = dir.appendingPathComponent("test.lock").path
        // A hung test is named and ends the run with a failure; its workers see their stdin close
        // and quit. _exit, not exit: the hung thread may hold locks that exit's handlers need.
        let (name, limit) = (self.name, type(of: self).timeLimit)
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + .seconds(limit))
        timer.setEventHandler {
            fputs("error: \(name) hung: still running after \(limit) s\n", stderr)
            _exit(3)
        }
        timer.resume()
        watchdog = timer
    }

    override func tearDown() {
        watchdog?.cancel()
        watchdog = nil
    }

    func worker(_ scope: String = "open-file") throws -> WorkerProcess {
        try WorkerProcess(WorkerProcess.swiftCommand, path: path, scope: scope)
    }
}
