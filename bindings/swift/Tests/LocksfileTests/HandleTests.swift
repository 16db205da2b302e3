import Foundation
import LocksfileFFI
import XCTest
@testable import Locksfile

/// The handle itself: what it forwards from the generated object, the direct path's token it holds
/// for its whole life, and sharing it.
final class HandleTests: LocksfileTestCase {
    func testPropertiesAndLookups() throws {
        let holder = try worker()
        let locks = try LocksFile(path: path, scope: .process)
        XCTAssertEqual(locks.path, path)
        XCTAssertEqual(locks.scope, .process)
        XCTAssertTrue(locks.isWritable)
        XCTAssertEqual(LocksFile.maxIndex, UInt64(Int64.max))
        XCTAssertEqual(try LocksFile(path: path).scope, .openFile)
        XCTAssertEqual(holder.ask("acquire write 3 block"), "ok")
        let pid = UInt32(holder.pid)
        for (name, holders) in [
            ("index", { try locks.holders(3) }), ("range", { try locks.holders(0..<10) }),
            ("closed range", { try locks.holders(3...3) }), ("from", { try locks.holders(1...) }),
        ] as [(String, () throws -> [Holder])] {
            let found = try holders()
            XCTAssertEqual(found.count, 1, "\(name): \(found)")
            XCTAssertEqual(found.first?.start, 3, name)
            XCTAssertEqual(found.first?.count, 1, name)
            XCTAssertEqual(found.first?.mode, .write, name)
            XCTAssertEqual(found.first?.kind, .openFile, name)
            XCTAssertEqual(found.first?.pid, pid, name)
        }
        XCTAssertEqual(try locks.holders(4...), [])
        XCTAssertEqual(try locks.modeOf(3), nil)
        try locks.acquire(.read, 7)
        XCTAssertEqual(try locks.modeOf(7), .read)
        XCTAssertFalse(try locks.isStale())
        try FileManager.default.removeItem(atPath: path)
        XCTAssertTrue(try locks.isStale())
        XCTAssertThrowsError(try locks.holders(5..<5)) { error in
            guard case let LocksFileError.InvalidRange(detail) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(detail, "invalid lock range (start 5, count 0): count must be at least 1")
        }
    }

    func testOpenEndedRangesInEveryForm() throws {
        let other = try worker()
        let locks = try LocksFile(path: path)
        XCTAssertTrue(try locks.tryAcquire(.write, 10...))
        XCTAssertFalse(other.canTake("read", "5000"))
        XCTAssertTrue(other.canTake("write", "9"))
        try locks.release(10...)
        XCTAssertTrue(other.canTake("write", "5000"))
        XCTAssertTrue(try locks.acquire(.read, 20..., timeout: .seconds(1)))
        XCTAssertEqual(try locks.held().map { [$0.start, $0.count ?? 0] }, [[20, 0]])
        try locks.release(20...)
        try locks.withLock(.write, 30...) {
            XCTAssertFalse(other.canTake("read", "31"))
        }
        XCTAssertTrue(try locks.acquire(.write, 4...6, timeout: .seconds(1)))
        XCTAssertFalse(other.canTake("read", "6"))
        XCTAssertEqual(try locks.held(), [HeldRange(start: 4, count: 3, mode: .write)])
        try locks.release(4...6)
        XCTAssertEqual(try locks.held(), [])
    }

    /// The token is fetched once and names the generated object for as long as the handle lives;
    /// the handle is its only owner, so its end closes the file and retires the token.
    func testTheEndOfAHandleClosesItAndRetiresItsToken() throws {
        let other = try worker()
        weak var generated: LocksFileHandle?
        var token: UInt64 = 0
        do {
            let locks = try LocksFile(path: path)
            generated = locks.handle
            token = locks.token
            XCTAssertEqual(locks.handle.fastLaneToken(), token)
            try locks.acquire(.write, 9)
            XCTAssertFalse(other.canTake("read", "9"))
        }
        XCTAssertNil(generated, "the generated object outlived its handle")
        XCTAssertTrue(other.canTake("write", "9"), "the end of the handle did not release lock 9")
        // A stale token is Closed, never a dangling reference.
        XCTAssertEqual(locksfile_fast_acquire(token, 9, 1, LOCKSFILE_WRITE), LOCKSFILE_FAILED)
        let replacement = try LocksFile(path: path) // reuses the slot, with a new generation
        XCTAssertThrowsError(try replacement.handle.raiseFastLaneError()) { error in
            guard case LocksFileError.Closed = error else { return XCTFail("\(error)") }
        }
        XCTAssertNotEqual(replacement.token, token)
        XCTAssertEqual(try replacement.held(), [])
    }

    /// One handle shared by threads: in `.openFile` scope they share its locks, and nothing is lost.
    func testThreadsShareOneHandle() throws {
        requireSendable(LocksFile.self)
        requireSendable(LocksFileError.self)
        requireSendable(HeldRange.self)
        requireSendable(Holder.self)
        let locks = try LocksFile(path: path)
        let (lock, failures) = (NSLock(), Failures())
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for round in 0..<2_000 {
                let index = UInt64(thread * 10 + round % 10)
                do {
                    try locks.withLock(.write, index) {}
                    if try !locks.tryAcquire(.read, index..<index + 1) { throw Failures.Busy(index: index) }
                    try locks.release(index)
                } catch {
                    lock.lock()
                    failures.all.append("thread \(thread), round \(round): \(error)")
                    lock.unlock()
                }
            }
        }
        XCTAssertEqual(failures.all, [])
        XCTAssertEqual(try locks.held(), [])
        XCTAssertTrue(try worker().canTake("write", "0.."))
    }

    private func requireSendable<T: Sendable>(_: T.Type) {}

    final class Failures: @unchecked Sendable {
        struct Busy: Error { let index: UInt64 }
        var all: [String] = []
    }
}
