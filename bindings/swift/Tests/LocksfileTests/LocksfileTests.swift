import Foundation
import XCTest
@testable import Locksfile

/// Swift processes contending on one lock file (and a Python process against a Swift one);
/// every exclusion is observed from another process.
final class LocksfileTests: LocksfileTestCase {

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
        XCTAssertEqual(try locks.modeOf(2), .read)
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
        try locks.close()
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
        let waited = Date().timeIntervalSince(began)
        // Bounded above generously (the machine is shared): a wait that ignores its deadline fails.
        XCTAssertGreaterThanOrEqual(waited, 0.3)
        XCTAssertLessThan(waited, 10)
        XCTAssertFalse(try locks.acquire(.read, 7, timeout: .zero))
        // Released once our request is queued in the kernel, so the timed wait must take it.
        let table = try ProcLocks(path)
        let released = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            do {
                try table.awaitWaiter(7)
                XCTAssertEqual(holder.ask("release 7"), "ok")
            } catch {
                XCTFail("\(error)")
            }
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
        let table = try ProcLocks(path)
        let task = Task { try await locks.acquire(.write, 3..<4) }
        try await table.awaitWaiterAsync(3)
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("the cancelled wait returned")
        } catch is CancellationError {}
        XCTAssertEqual(try locks.held(), [])
        XCTAssertEqual(table.waiters(3), 0, "the cancelled wait left the kernel's queue")
        let waiting = Task { try await locks.acquire(.write, 3..<4, timeout: .seconds(10)) }
        try await table.awaitWaiterAsync(3)
        XCTAssertEqual(holder.ask("release 3"), "ok")
        let got = try await waiting.value
        XCTAssertTrue(got)
    }

    func testBadRangesThrowTheCoresErrors() throws {
        let locks = try LocksFile(path: path)
        let past = "9223372036854775807 (the largest off_t)"
        let cases: [(String, () throws -> Void)] = [
            ("(start 5, count 0): count must be at least 1", { try locks.acquire(.read, 5..<5) }),
            ("(start 3, count 0): count must be at least 1", { _ = try locks.tryAcquire(.write, 3..<3) }),
            ("(start 9, count 0): count must be at least 1", { _ = try locks.acquire(.write, 9..<9, timeout: .seconds(1)) }),
            ("(start 5, count 0): count must be at least 1", { try locks.release(5..<5) }),
            ("(start 5, count 0): count must be at least 1", { try locks.withLock(.write, 5..<5) {} }),
            ("(start 18446744073709551615, count 1): start must not exceed \(past)", { try locks.acquire(.write, UInt64.max) }),
            ("(start 18446744073709551615, count 1): start must not exceed \(past)", { try locks.withLock(.write, UInt64.max) {} }),
            ("(start 18446744073709551615, count 1): start must not exceed \(past)", { try locks.release(UInt64.max) }),
            ("(start 18446744073709551615, count open-ended): start must not exceed \(past)", { try locks.acquire(.read, UInt64.max...) }),
            ("(start 0, count 18446744073709551616): the last index must not exceed \(past)", { _ = try locks.tryAcquire(.write, 0...UInt64.max) }),
            ("(start 0, count 18446744073709551616): the last index must not exceed \(past)", { try locks.withLock(.read, 0...UInt64.max) {} }),
            ("(start 1, count 18446744073709551615): the last index must not exceed \(past)", { try locks.acquire(.read, 1...UInt64.max) }),
            // The generated path words them the same.
            ("(start 1, count 0): count must be at least 1", { try locks.handle.acquire(start: 1, count: 0, mode: .read) }),
            ("(start 9223372036854775807, count 2): the last index must not exceed \(past)", { try locks.handle.release(start: UInt64(Int64.max), count: 2) }),
        ]
        for (expected, attempt) in cases {
            XCTAssertThrowsError(try attempt()) { error in
                guard case let LocksFileError.InvalidRange(detail) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(detail, "invalid lock range \(expected)")
            }
        }
        XCTAssertEqual(try locks.held(), [])
        // The largest index and the whole range work.
        try locks.withLock(.write, UInt64(Int64.max)) {}
        try locks.withLock(.read, 0...UInt64(Int64.max)) {}
        XCTAssertThrowsError(try LocksFile(path: "/nonexistent-dir/x.lock")) { error in
            guard case LocksFileError.MissingDirectory = error else { return XCTFail("\(error)") }
        }
    }

    func testNegativeTimeoutsThrowInvalidTimeout() throws {
        let locks = try LocksFile(path: path)
        let cases: [(String, () throws -> Void)] = [
            ("-1", { _ = try locks.acquire(.write, 1, timeout: .seconds(-1)) }),
            ("-0.25", { _ = try locks.acquire(.read, 1..<3, timeout: .milliseconds(-250)) }),
        ]
        for (value, attempt) in cases {
            XCTAssertThrowsError(try attempt()) { error in
                guard case let LocksFileError.InvalidTimeout(detail) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(detail, "invalid timeout \(value): a timeout is a number of seconds, at least 0")
            }
        }
        XCTAssertEqual(try locks.held(), [])
    }

    func testAsyncBadInputThrowsTheCoresErrors() async throws {
        let locks = try LocksFile(path: path)
        do {
            _ = try await locks.acquire(.write, 2..<2, timeout: nil)
            XCTFail("an empty range was taken")
        } catch let LocksFileError.InvalidRange(detail) {
            XCTAssertEqual(detail, "invalid lock range (start 2, count 0): count must be at least 1")
        }
        do {
            _ = try await locks.acquire(.write, 2..<3, timeout: .seconds(-2))
            XCTFail("a negative timeout was taken")
        } catch let LocksFileError.InvalidTimeout(detail) {
            XCTAssertEqual(detail, "invalid timeout -2: a timeout is a number of seconds, at least 0")
        }
        XCTAssertEqual(try locks.held(), [])
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
        try ProcLocks(path).awaitWaiter(4)
        XCTAssertEqual(python.ask("release 4..6"), "ok")
        XCTAssertEqual(swift.reply(), "ok")
        XCTAssertFalse(python.canTake("read", "4"))
    }
}
