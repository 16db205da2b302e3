import Foundation
import XCTest
@testable import Locksfile

/// The `async` acquires: every form waits without a thread of its own and takes its locks (seen
/// from another process), deadlines and cancellation, and the shared waiter pool: bounded, and
/// fair enough that requests beyond its size are not stuck behind waits that depend on them.
final class AsyncTests: LocksfileTestCase {
    /// Every `async` way of taking lock 5, each with a check that runs while it holds.
    static let forms: [(String, @Sendable (LocksFile, @Sendable () -> Void) async throws -> Void)] = [
        ("index", { locks, holding in try await locks.acquire(.write, 5); holding() }),
        ("range", { locks, holding in try await locks.acquire(.write, 5..<6); holding() }),
        ("closed range", { locks, holding in try await locks.acquire(.write, 5...5); holding() }),
        ("from", { locks, holding in try await locks.acquire(.write, 5...); holding() }),
        ("index, timeout", { locks, holding in
            let got = try await locks.acquire(.write, 5, timeout: .seconds(60))
            XCTAssertTrue(got)
            holding()
        }),
        ("range, timeout", { locks, holding in
            let got = try await locks.acquire(.write, 5..<6, timeout: .seconds(60))
            XCTAssertTrue(got)
            holding()
        }),
        ("closed range, timeout", { locks, holding in
            let got = try await locks.acquire(.write, 5...5, timeout: .seconds(60))
            XCTAssertTrue(got)
            holding()
        }),
        ("from, timeout", { locks, holding in
            let got = try await locks.acquire(.write, 5..., timeout: .seconds(60))
            XCTAssertTrue(got)
            holding()
        }),
        ("withLock index", { locks, holding in try await locks.withLock(.write, 5) { holding() } }),
        ("withLock range", { locks, holding in try await locks.withLock(.write, 5..<6) { holding() } }),
        ("withLock closed range", { locks, holding in try await locks.withLock(.write, 5...5) { holding() } }),
        ("withLock from", { locks, holding in try await locks.withLock(.write, 5...) { holding() } }),
    ]

    func testEveryFormWaitsForTheLockAndTakesIt() async throws {
        let (holder, checker) = (try worker(), try worker())
        let table = try ProcLocks(path)
        let locks = try LocksFile(path: path)
        for (name, form) in Self.forms {
            XCTAssertEqual(holder.ask("acquire write 5 block"), "ok", name)
            let seen = Seen()
            let task = Task { try await form(locks) { seen.set(!checker.canTake("read", "5")) } }
            try await table.awaitWaiterAsync(5)  // queued in the kernel behind the holder
            XCTAssertEqual(holder.ask("release 5"), "ok", name)
            try await task.value
            XCTAssertEqual(seen.value, true, "\(name): another process could take lock 5 while the form held it")
            try locks.release(5...)
            XCTAssertTrue(checker.canTake("write", "5.."), "\(name): lock 5 stayed held")
            XCTAssertEqual(try locks.held(), [], name)
        }
    }

    func testATimedWaitAnswersFalseAtTheDeadlineHoldingNothing() async throws {
        let holder = try worker()
        let table = try ProcLocks(path)
        let locks = try LocksFile(path: path)
        try await locks.acquire(.read, 8)
        XCTAssertEqual(holder.ask("acquire write 7 block"), "ok")
        let began = ContinuousClock.now
        let got = try await locks.acquire(.write, 7...8, timeout: .milliseconds(300))
        let waited = ContinuousClock.now - began
        XCTAssertFalse(got)
        XCTAssertGreaterThanOrEqual(waited, .milliseconds(300))
        XCTAssertLessThan(waited, .seconds(10))
        XCTAssertEqual(try locks.held(), [HeldRange(start: 8, count: 1, mode: .read)], "the timed wait changed what was held")
        XCTAssertEqual(table.waiters(7), 0)
        let zero = try await locks.acquire(.write, 7, timeout: .zero)
        XCTAssertFalse(zero)
    }

    func testACancelledTaskThrowsCancellationErrorBeforeTrying() async throws {
        let locks = try LocksFile(path: path)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await locks.acquire(.write, 1)
        }
        do {
            try await task.value
            XCTFail("a cancelled task took the lock")
        } catch is CancellationError {}
        XCTAssertEqual(try locks.held(), [])
    }

    /// More waits than the pool has threads, and the first `limit` of them wait for locks that are
    /// only released once the later ones got theirs: a pool that let a thread keep its request
    /// would deadlock. Some later ones are cancelled while they wait for a turn. The pool never
    /// has more than `limit` threads.
    func testWaitsBeyondThePoolsSizeTakeTurns() async throws {
        let seed = ProcessInfo.processInfo.environment["LOCKSFILE_TEST_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        print("testWaitsBeyondThePoolsSizeTakeTurns: seed \(seed) (LOCKSFILE_TEST_SEED to repeat)")
        var random = SplitMix64(seed: seed)
        let limit = LocksFile.asyncWaiterThreads
        let later = Int.random(in: 1...2 * limit, using: &random)
        let cancelled = Set((0..<later).filter { _ in Int.random(in: 0..<4, using: &random) == 0 })
        let (holder, checker) = (try worker(), try worker())
        let table = try ProcLocks(path)
        // `blocker`, a handle of this process, holds 0..<limit; the holder process holds 100 on.
        let blocker = try LocksFile(path: path)
        try await blocker.acquire(.write, 0..<UInt64(limit))
        XCTAssertEqual(holder.ask("acquire write 100.. block"), "ok")
        let (first, second) = (try LocksFile(path: path), try LocksFile(path: path))
        let firstTasks = (0..<limit).map { index in Task { try await first.acquire(.write, UInt64(index)) } }
        for index in 0..<limit { try await awaitWaiter(table, UInt64(index)) }  // every thread of the pool waits
        let secondTasks = (0..<later).map { index in Task { try await second.acquire(.write, UInt64(100 + index)) } }
        for index in cancelled.sorted() { secondTasks[index].cancel() }
        XCTAssertEqual(holder.ask("release 100.."), "ok")
        // A cancelled wait ends with CancellationError holding nothing, unless the kernel granted
        // it first (within the slice it was waiting in when the cancellation came: it then returns
        // holding the lock); the others return holding their locks.
        var ended = 0
        for (index, task) in secondTasks.enumerated() {
            do {
                try await task.value
                XCTAssertFalse(checker.canTake("read", "\(100 + index)"), "lock \(100 + index) is not held")
            } catch is CancellationError {
                ended += 1
                XCTAssertTrue(cancelled.contains(index), "the wait for lock \(100 + index) was cancelled unasked")
                XCTAssertTrue(checker.canTake("write", "\(100 + index)"), "the cancelled wait took lock \(100 + index)")
            }
        }
        var order = Array(0..<limit)
        order.shuffle(using: &random)
        for index in order { try blocker.release(UInt64(index)) }
        for task in firstTasks { try await task.value }
        XCTAssertFalse(checker.canTake("read", "0"))
        XCTAssertFalse(checker.canTake("read", "\(limit - 1)"))
        XCTAssertEqual(try first.held().reduce(0) { $0 + ($1.count ?? 0) }, UInt64(limit))
        XCTAssertEqual(try second.held().reduce(0) { $0 + ($1.count ?? 0) }, UInt64(later - ended))
        XCTAssertLessThanOrEqual(WaiterPool.shared.started, limit, "the pool outgrew its size")
        print("testWaitsBeyondThePoolsSizeTakeTurns: \(limit) + \(later) waits (\(cancelled.count) cancelled, \(ended) ended by it) on \(WaiterPool.shared.started) threads")
    }

    private func awaitWaiter(_ table: ProcLocks, _ index: UInt64) async throws {
        try await table.awaitWaiterAsync(index)
    }

    final class Seen: @unchecked Sendable {
        private let lock = NSLock()
        private var seen: Bool?
        var value: Bool? { lock.lock(); defer { lock.unlock() }; return seen }
        func set(_ value: Bool) { lock.lock(); seen = value; lock.unlock() }
    }
}

/// A small seeded generator (SplitMix64), so that a failing run can be repeated.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
