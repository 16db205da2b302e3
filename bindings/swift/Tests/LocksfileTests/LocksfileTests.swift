import Foundation
import XCTest
@testable import Locksfile

/// Swift processes contending on one lock file (and a Python process against a Swift one);
/// every exclusion is observed from another process.
final class LocksfileTests: XCTestCase {
    var path = ""

    override func setUp() {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("locksfile-swift-\(UUID())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        path = dir.appendingPathComponent("test.lock").path
    }

    func worker(_ scope: String = "open-file") throws -> WorkerProcess {
        try WorkerProcess(WorkerProcess.swiftCommand, path: path, scope: scope)
    }

    func testWriteLockExcludesOtherProcessesOnThatIndexOnly() throws {
        let (a, b) = (try worker(), try worker())
        XCTAssertEqual(a.ask("acquire write 1 block"), "ok")
        XCTAssertFalse(b.canTake("write", "1"))
        XCTAssertFalse(b.canTake("read", "1"))
        XCTAssertTrue(b.canTake("write", "0") && b.canTake("write", "2"))
        XCTAssertEqual(a.ask("release 1"), "ok")
        XCTAssertTrue(b.canTake("write", "1"))
    }

    func testReadersShareAndExcludeWriters() throws {
        let (a, b) = (try worker(), try worker())
        let locks = try LocksFile(path: path)
        try locks.withLock(.read, 0) {
            XCTAssertTrue(a.canTake("read", "0"))
            XCTAssertFalse(a.canTake("write", "0"))
            XCTAssertEqual(b.ask("acquire read 0 block"), "ok")
        }
        XCTAssertFalse(a.canTake("write", "0"))
        XCTAssertEqual(b.ask("release 0"), "ok")
        XCTAssertTrue(a.canTake("write", "0"))
    }

    func testAnIntervalIsAllOrNothing() throws {
        let (holder, checker) = (try worker(), try worker())
        XCTAssertEqual(holder.ask("acquire write 2 block"), "ok")
        let locks = try LocksFile(path: path)
        XCTAssertFalse(try locks.tryAcquire(.write, 0..<5))
        XCTAssertEqual(try locks.held(), [])
        XCTAssertTrue(checker.canTake("write", "0"))
        XCTAssertEqual(holder.ask("release 2"), "ok")
        try locks.withLock(.write, 0...4) {
            XCTAssertFalse(checker.canTake("read", "4"))
            XCTAssertTrue(checker.canTake("write", "5"))
        }
        XCTAssertTrue(checker.canTake("write", "0..5"))
    }

    func testConversionSeenFromOutside() throws {
        let other = try worker()
        let locks = try LocksFile(path: path)
        try locks.acquire(.write, 1..<4)
        try locks.acquire(.read, 2)
        XCTAssertEqual(try locks.held().map { [$0.start, $0.count ?? 0] }, [[1, 1], [2, 1], [3, 1]])
        XCTAssertEqual(try locks.modeOf(index: 2), .read)
        XCTAssertTrue(other.canTake("read", "2"))
        XCTAssertFalse(other.canTake("write", "2"))
        XCTAssertFalse(other.canTake("read", "1"))
    }

    func testReleaseAllAndCloseFreeEverything() throws {
        let other = try worker()
        let locks = try LocksFile(path: path)
        try locks.acquire(.write, 0..<3)
        try locks.acquire(.read, 100...)
        XCTAssertFalse(other.canTake("write", "5000"))
        try locks.releaseAll()
        XCTAssertTrue(other.canTake("write", "0.."))
        try locks.acquire(.write, 7)
        locks.closeFile()
        XCTAssertTrue(other.canTake("write", "7"))
        XCTAssertThrowsError(try locks.acquire(.read, 1)) { error in
            guard case LocksFileError.Closed = error else { return XCTFail("\(error)") }
        }
    }

    func testTimeouts() throws {
        let holder = try worker()
        XCTAssertEqual(holder.ask("acquire write 7 block"), "ok")
        let locks = try LocksFile(path: path)
        let began = Date()
        XCTAssertFalse(try locks.acquire(.write, 7, timeout: .milliseconds(300)))
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(began), 0.3)
        let released = DispatchSemaphore(value: 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) {
            XCTAssertEqual(holder.ask("release 7"), "ok")
            released.signal()
        }
        XCTAssertTrue(try locks.acquire(.write, 7, timeout: .seconds(10)))
        released.wait() // the releasing thread has read its reply: the worker is ours again
        XCTAssertFalse(holder.canTake("read", "7"))
    }

    func testAsyncAcquireHonoursCancellation() async throws {
        let holder = try worker()
        XCTAssertEqual(holder.ask("acquire write 3 block"), "ok")
        let locks = try LocksFile(path: path)
        let task = Task { try await locks.acquire(.write, 3..<4) }
        try await Task.sleep(nanoseconds: 200_000_000)
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("the cancelled wait returned")
        } catch is CancellationError {}
        XCTAssertEqual(try locks.held(), [])
        let waiting = Task { try await locks.acquire(.write, 3..<4, timeout: .seconds(10)) }
        try await Task.sleep(nanoseconds: 100_000_000)
        XCTAssertEqual(holder.ask("release 3"), "ok")
        let got = try await waiting.value
        XCTAssertTrue(got)
    }

    func testBadInputThrowsInvalidRange() throws {
        let locks = try LocksFile(path: path)
        let cases: [() throws -> Void] = [
            { try locks.acquire(.read, 5..<5) },
            { try locks.acquire(.write, UInt64.max) },
            { _ = try locks.tryAcquire(.write, 0...UInt64.max) },
            { try locks.acquire(start: 1, count: 0, mode: .read) },
            { try locks.release(start: UInt64(Int64.max), count: 2) },
        ]
        for attempt in cases {
            XCTAssertThrowsError(try attempt()) { error in
                guard case let LocksFileError.InvalidRange(_, _, detail) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(detail.hasPrefix("invalid lock range"), detail)
            }
        }
        XCTAssertEqual(try locks.held(), [])
        XCTAssertThrowsError(try LocksFile(path: "/nonexistent-dir/x.lock")) { error in
            guard case LocksFileError.MissingDirectory = error else { return XCTFail("\(error)") }
        }
    }

    func testSwiftAgainstPython() throws {
        let python = try WorkerProcess(try WorkerProcess.pythonCommand(), path: path)
        let swift = try worker()
        XCTAssertEqual(python.ask("acquire write 4..6 block"), "ok")
        XCTAssertFalse(swift.canTake("read", "5"))
        XCTAssertTrue(swift.canTake("write", "6"))
        XCTAssertEqual(swift.ask("acquire read 10 block"), "ok")
        XCTAssertTrue(python.canTake("read", "10"))
        XCTAssertFalse(python.canTake("write", "10"))
        swift.send("acquire write 4 block")
        swift.assertBlocked()
        XCTAssertEqual(python.ask("release 4..6"), "ok")
        XCTAssertEqual(swift.reply(), "ok")
        XCTAssertFalse(python.canTake("read", "4"))
    }
}
