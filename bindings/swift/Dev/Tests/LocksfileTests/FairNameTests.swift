import Foundation
import XCTest
@testable import Locksfile

/// Names (a `String` is the lock `LocksFile.indexOf(name)`, computed by the core) and fair handles
/// (writer preference), each observed from another process.
final class FairNameTests: LocksfileTestCase {
    /// The first gate byte of fair handles (2^62): the gate of index `i` is 2^62 + `i`.
    let gates: UInt64 = 1 << 62

    func testANameIsItsPinnedIndex() throws {
        // Pinned in core/src/name.rs (and computed there from the formula, in Python).
        XCTAssertEqual(LocksFile.indexOf("dataset-42"), 2_370_090_560_691_594_753)
        XCTAssertEqual(LocksFile.indexOf("dataset-43"), 3_433_969_125_170_851_786)
        XCTAssertEqual(LocksFile.indexOf(""), 4_465_886_293_029_758_244)
        XCTAssertEqual(LocksFile.indexOf("ünïcødé"), 4_077_579_130_462_500_905)
        // The worker's, through the layer too (tests/cross compares every language's).
        XCTAssertEqual(try worker().ask("index-of dataset-42"), "2370090560691594753")
    }

    func testTheSameNameExcludesAndAnotherDoesNot() throws {
        let other = try worker()
        let locks = try LocksFile(path: path)
        let index = LocksFile.indexOf("dataset-42")
        try locks.acquire(.write, "dataset-42")
        XCTAssertFalse(other.canTake("read", "name:dataset-42"))
        XCTAssertFalse(other.canTake("read", String(index)), "the name's lock is its index")
        XCTAssertTrue(other.canTake("write", "name:dataset-43"))
        XCTAssertEqual(try locks.held(), [HeldRange(start: index, count: 1, mode: .write)])
        XCTAssertEqual(try locks.modeOf("dataset-42"), .write)
        XCTAssertEqual(try locks.modeOf("dataset-43"), nil)
        try locks.release("dataset-42")
        XCTAssertTrue(other.canTake("write", "name:dataset-42"))

        XCTAssertTrue(try locks.tryAcquire(.read, "dataset-42"))
        XCTAssertTrue(other.canTake("read", "name:dataset-42"))
        XCTAssertFalse(other.canTake("write", "name:dataset-42"))
        try locks.release("dataset-42")
        XCTAssertTrue(try locks.acquire(.write, "dataset-42", timeout: .seconds(10)))
        XCTAssertFalse(other.canTake("read", "name:dataset-42"))
        try locks.release("dataset-42")
        let answer = try locks.withLock(.write, "dataset-42") { () -> Int in
            XCTAssertFalse(other.canTake("read", "name:dataset-42"))
            XCTAssertTrue(other.canTake("write", "name:dataset-43"))
            return 42
        }
        XCTAssertEqual(answer, 42)
        XCTAssertEqual(try locks.held(), [])
        XCTAssertTrue(other.canTake("write", "name:dataset-42"))

        // The other process holds it: every form here sees it busy, and holders names that process.
        XCTAssertEqual(other.ask("acquire write name:dataset-42 block"), "ok")
        XCTAssertFalse(try locks.tryAcquire(.read, "dataset-42"))
        XCTAssertFalse(try locks.acquire(.read, "dataset-42", timeout: .zero))
        XCTAssertTrue(try locks.tryAcquire(.write, "dataset-43"))
        try locks.release("dataset-43")
        let holders = try locks.holders("dataset-42")
        XCTAssertEqual(holders.map { [$0.start, $0.count ?? 0] }, [[index, 1]])
        XCTAssertEqual(holders.first?.mode, .write)
        XCTAssertEqual(holders.first?.pid, UInt32(other.pid))
        XCTAssertEqual(try locks.holders("dataset-43"), [])
        XCTAssertEqual(try locks.modeOf("dataset-42"), nil)
        XCTAssertEqual(try locks.held(), [])
    }

    func testNamedAsyncFormsWaitAndExclude() async throws {
        let holder = try worker()
        let locks = try LocksFile(path: path)
        let table = try ProcLocks(path)
        let index = LocksFile.indexOf("jobs")
        XCTAssertEqual(holder.ask("acquire write name:jobs block"), "ok")
        let busy = try await locks.acquire(.read, "jobs", timeout: .zero)
        XCTAssertFalse(busy)
        let waiting = Task { try await locks.acquire(.write, "jobs") }
        try await table.awaitWaiterAsync(index)
        XCTAssertEqual(holder.ask("release name:jobs"), "ok")
        try await waiting.value
        XCTAssertFalse(holder.canTake("read", "name:jobs"))
        try locks.release("jobs")
        XCTAssertEqual(holder.ask("acquire read name:jobs block"), "ok")
        let timed = Task { try await locks.acquire(.write, "jobs", timeout: .seconds(20)) }
        try await table.awaitWaiterAsync(index)
        XCTAssertEqual(holder.ask("release name:jobs"), "ok")
        let got = try await timed.value
        XCTAssertTrue(got)
        XCTAssertFalse(holder.canTake("read", "name:jobs"))
        try locks.release("jobs")
        let answer = try await locks.withLock(.write, "jobs") { () async -> Int in
            XCTAssertFalse(holder.canTake("read", "name:jobs"))
            return 42
        }
        XCTAssertEqual(answer, 42)
        XCTAssertTrue(holder.canTake("write", "name:jobs"))
    }

    /// A fair writer here, waiting behind a reader of another process, holds back fair readers of
    /// other processes (a new one is refused; a blocking one queues and gets in after the writer),
    /// while a plain reader is not held back.
    func testAWaitingFairWriterHoldsBackFairReadersOfOtherProcessesNotPlainOnes() throws {
        let (inside, lateFair, plain) = (try worker(), try worker("open-file+fair"), try worker())
        let writer = try LocksFile(path: path, fair: true)
        XCTAssertTrue(writer.isFair)
        let table = try ProcLocks(path)
        XCTAssertEqual(inside.ask("acquire read 5 block"), "ok")
        XCTAssertTrue(lateFair.canTake("read", "5"), "with no writer waiting, a fair reader gets in")
        let got = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            do {
                try writer.acquire(.write, 5)
            } catch {
                XCTFail("the fair writer: \(error)")
            }
            got.signal()
        }
        try table.awaitWaiter(5)
        XCTAssertFalse(lateFair.canTake("read", "5"), "a fair reader got past a waiting fair writer")
        XCTAssertTrue(plain.canTake("read", "5"), "a plain reader does not wait at the gate")
        lateFair.send("acquire read 5 block")
        try table.awaitWaiter(gates + 5)  // it waits at the writer's gate
        XCTAssertEqual(inside.ask("release 5"), "ok")
        got.wait()
        XCTAssertEqual(try writer.held(), [HeldRange(start: 5, count: 1, mode: .write)])
        XCTAssertEqual(table.readers(5), 0, "a reader holds lock 5 with the writer")
        XCTAssertFalse(plain.canTake("read", "5"))
        try writer.release(5)
        XCTAssertEqual(lateFair.reply(), "ok")
        XCTAssertFalse(plain.canTake("write", "5"))
        XCTAssertTrue(plain.canTake("read", "5"))
    }

    /// The other way round, on a name: a fair writer of another process waits, and this process's
    /// fair handle is held back while its plain one is not.
    func testAFairWriterOfAnotherProcessHoldsBackFairReadersHereOnANameNotPlainOnes() throws {
        let (inside, writer) = (try worker(), try worker("open-file+fair"))
        let fair = try LocksFile(path: path, fair: true)
        let plain = try LocksFile(path: path)
        XCTAssertFalse(plain.isFair)
        let table = try ProcLocks(path)
        XCTAssertEqual(inside.ask("acquire read name:jobs block"), "ok")
        writer.send("acquire write name:jobs block")
        try table.awaitWaiter(LocksFile.indexOf("jobs"))
        XCTAssertFalse(try fair.tryAcquire(.read, "jobs"), "a fair reader got past a waiting fair writer")
        XCTAssertFalse(try fair.acquire(.read, "jobs", timeout: .zero))
        XCTAssertEqual(try fair.held(), [])
        XCTAssertTrue(try plain.tryAcquire(.read, "jobs"), "a plain reader does not wait at the gate")
        try plain.release("jobs")
        XCTAssertEqual(inside.ask("release name:jobs"), "ok")
        XCTAssertEqual(writer.reply(), "ok")
        XCTAssertFalse(try fair.tryAcquire(.read, "jobs"))
        XCTAssertEqual(writer.ask("release name:jobs"), "ok")
        XCTAssertTrue(try fair.tryAcquire(.read, "jobs"))
        XCTAssertFalse(writer.canTake("write", "name:jobs"))
    }

    /// Readers of other processes (Swift workers with `keep-reading`) that keep lock 0 read-held
    /// with seeded hold times: a fair writer here gets through them, again and again.
    func testAFairWriterGetsThroughReadersThatNeverLetGoAllAtOnce() throws {
        let seed = ProcessInfo.processInfo.environment["LOCKSFILE_TEST_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0..<(1 << 63))
        print("testAFairWriterGetsThroughReadersThatNeverLetGoAllAtOnce: seed \(seed) (LOCKSFILE_TEST_SEED to repeat)")
        let readers = try (0..<3).map { _ in try worker() }
        for (number, reader) in readers.enumerated() {
            XCTAssertEqual(reader.ask("keep-reading 0 \(seed &+ UInt64(number)) 2 12"), "ok")
        }
        let (writer, checker) = (try LocksFile(path: path, fair: true), try worker())
        let table = try ProcLocks(path)
        for round in 0..<10 {
            try table.awaitReaders(0, count: 2)
            // 20 s guards against a hang; a writer that is not fair waits as long as the readers go on.
            guard try writer.acquire(.write, 0, timeout: .seconds(20)) else {
                XCTFail("round \(round): the fair writer waited 20 s (seed \(seed))")
                break
            }
            XCTAssertEqual(table.readers(0), 0, "round \(round): a reader holds lock 0 with the writer")
            XCTAssertFalse(checker.canTake("read", "0"))
            try writer.release(0)
        }
        for reader in readers {
            XCTAssertEqual(reader.ask("stop-reading"), "ok")
        }
        XCTAssertTrue(checker.canTake("write", "0"), "a reader kept lock 0 after stop-reading")
    }

    func testAFairHandlesIndicesAreBelowTwoToTheSixtyTwo() async throws {
        let fair = try LocksFile(path: path, fair: true)
        XCTAssertTrue(fair.isFair)
        let gates = gates
        let below = "must be below 4611686018427387904 (2^62: the gates lie above)"
        let cases: [(String, () throws -> Void)] = [
            ("(start 4611686018427387904, count 1): a fair handle's indices \(below)", { try fair.acquire(.read, gates) }),
            ("(start 4611686018427387904, count 1): a fair handle's indices \(below)", { _ = try fair.tryAcquire(.write, gates) }),
            ("(start 4611686018427387904, count 1): a fair handle's indices \(below)", { try fair.withLock(.write, gates) {} }),
            ("(start 4611686018427387904, count 1): a fair handle's indices \(below)", { try fair.release(gates) }),
            ("(start 4611686018427387904, count open-ended): a fair handle's indices \(below)", { try fair.acquire(.read, gates...) }),
            ("(start 4611686018427387903, count 2): a fair handle's last index \(below)", {
                _ = try fair.acquire(.write, gates - 1..<gates + 1, timeout: .seconds(1))
            }),
            ("(start 0, count 18446744073709551616): the last index must not exceed 9223372036854775807 (the largest off_t)", {
                _ = try fair.tryAcquire(.write, 0...UInt64.max)
            }),
        ]
        for (expected, attempt) in cases {
            XCTAssertThrowsError(try attempt()) { error in
                guard case let LocksFileError.InvalidRange(detail) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(detail, "invalid lock range \(expected)")
            }
        }
        do {
            try await fair.acquire(.write, gates + 7)
            XCTFail("the async acquire took an index past a fair handle's")
        } catch let LocksFileError.InvalidRange(detail) {
            XCTAssertEqual(detail, "invalid lock range (start 4611686018427387911, count 1): a fair handle's indices \(below)")
        }
        let fairWorker = try worker("open-file+fair")
        XCTAssertEqual(fairWorker.ask("acquire read \(gates) try"),
                       "err InvalidRange: invalid lock range (start 4611686018427387904, count 1): a fair handle's indices \(below)")
        XCTAssertEqual(try fair.held(), [])

        // The largest fair index, an open-ended range (which ends below the gates) and a name work.
        let other = try worker()
        try await fair.acquire(.write, gates - 1)
        XCTAssertFalse(other.canTake("read", String(gates - 1)))
        try fair.release(gates - 1)
        try await fair.acquire(.write, 5...)
        XCTAssertEqual(try fair.held(), [HeldRange(start: 5, count: gates - 5, mode: .write)])
        XCTAssertFalse(other.canTake("read", "1000"))
        XCTAssertTrue(other.canTake("write", "\(gates).."), "an open-ended fair range ends below the gates")
        try fair.release(5...)
        XCTAssertTrue(other.canTake("write", "0.."))
        try await fair.withLock(.write, "jobs") {
            XCTAssertFalse(other.canTake("read", "name:jobs"))
        }
        XCTAssertTrue(other.canTake("write", "name:jobs"))
    }
}
