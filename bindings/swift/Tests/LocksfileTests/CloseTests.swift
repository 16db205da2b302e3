import Foundation
import XCTest
@testable import Locksfile

/// `close()` while another thread waits (issue 11): the waiter ends with `Closed`, holding
/// nothing, while the holder in another process still holds; afterwards another process can take
/// the lock.
final class CloseTests: LocksfileTestCase {
    /// The ways of waiting for lock 5: the direct path (blocking, timed, scoped, async) and the
    /// generated path.
    static let waits: [(String, (LocksFile) throws -> Void)] = [
        ("acquire", { try $0.acquire(.write, 5) }),
        ("acquire with a timeout", { _ = try $0.acquire(.write, 5, timeout: .seconds(60)) }),
        ("withLock", { try $0.withLock(.write, 5) {} }),
        ("async acquire", { locks in try blockOn { _ = try await locks.acquire(.write, 5..<6) } }),
        ("async acquire with a timeout", { locks in try blockOn { _ = try await locks.acquire(.write, 5..<6, timeout: .seconds(60)) } }),
        ("generated acquire", { try $0.handle.acquire(start: 5, count: 1, mode: .write) }),
        ("generated acquireTimeout", { _ = try $0.handle.acquireTimeout(start: 5, count: 1, mode: .write, timeoutSeconds: 60) }),
    ]

    /// Runs `wait` on a thread of its own; `ended` reports how it ended, and when.
    final class Waiter: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var outcome: (Error?, ContinuousClock.Instant)?

        init(_ locks: LocksFile, start: SpinBarrier? = nil, _ wait: @escaping (LocksFile) throws -> Void) {
            Thread {
                start?.arriveAndWait()
                var error: Error?
                do { try wait(locks) } catch let thrown { error = thrown }
                self.outcome = (error, ContinuousClock.now)
                self.done.signal()
            }.start()
        }

        /// The error the wait ended with (nil: it returned) and when; nil if it did not end in 10 s.
        func ended() -> (Error?, ContinuousClock.Instant)? {
            done.wait(timeout: .now() + 10) == .success ? outcome : nil
        }
    }

    func testCloseEndsAWaitWithClosedWhileAnotherProcessHolds() throws {
        let (holder, checker) = (try worker(), try worker())
        let table = try ProcLocks(path)
        for (name, wait) in Self.waits {
            XCTAssertEqual(holder.ask("acquire write 5 block"), "ok")
            let locks = try LocksFile(path: path)
            let waiter = Waiter(locks, wait)
            try table.awaitWaiter(5)
            let closing = ContinuousClock.now
            try locks.close()
            let closed = ContinuousClock.now
            guard let (error, at) = waiter.ended() else { return XCTFail("\(name): the wait did not end after close") }
            print("close during \(name): waiter ended \(micros(at - closing)) µs after close began; close took \(micros(closed - closing)) µs")
            guard case LocksFileError.Closed = error ?? CancellationError() else { return XCTFail("\(name): \(String(describing: error))") }
            XCTAssertLessThan(at - closing, .seconds(2), name)
            // The holder still holds; nothing waits any more; the closed handle holds nothing.
            XCTAssertTrue(table.isHeld(5), "\(name): \(table.entries())")
            XCTAssertFalse(checker.canTake("write", "5"), name)
            XCTAssertEqual(table.waiters(5), 0, "\(name): \(table.entries())")
            XCTAssertEqual(holder.ask("release 5"), "ok")
            XCTAssertTrue(checker.canTake("write", "5"), "\(name): the closed handle took lock 5")
        }
    }

    func testAnAcquireRacingCloseReturnedOrThrowsClosedAndNothingStaysHeld() throws {
        let checker = try worker()
        var outcomes: [String: Int] = [:]
        for round in 0..<20 {
            for (name, wait) in Self.waits {
                let locks = try LocksFile(path: path)
                let start = SpinBarrier()
                let waiter = Waiter(locks, start: start, wait)
                start.arriveAndWait()
                // From closing first to acquiring first, over the rounds.
                let delay = ContinuousClock.now + .microseconds(5 * (round % 10))
                while ContinuousClock.now < delay {}
                try locks.close()
                guard let (error, _) = waiter.ended() else { return XCTFail("\(name), round \(round): the wait did not end") }
                switch error {
                case nil: outcomes["\(name): returned", default: 0] += 1
                case LocksFileError.Closed?: outcomes["\(name): Closed", default: 0] += 1
                case let other?: XCTFail("\(name), round \(round): \(other)")
                }
                XCTAssertTrue(checker.canTake("write", "5"), "\(name), round \(round): lock 5 stayed held after close")
            }
        }
        print("acquire racing close, 20 rounds: \(outcomes.sorted { $0.key < $1.key })")
    }

    func micros(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}

/// Two threads leave together, both spinning (a semaphore would wake one of them late).
final class SpinBarrier: @unchecked Sendable {
    private let lock = NSLock()
    private var arrived = 0

    func arriveAndWait() {
        lock.lock()
        arrived += 1
        lock.unlock()
        while true {
            lock.lock()
            let all = arrived == 2
            lock.unlock()
            if all { return }
        }
    }
}

/// Runs an async operation to its end from a plain thread.
func blockOn(_ operation: @escaping @Sendable () async throws -> Void) throws {
    final class Box: @unchecked Sendable { var error: Error? }
    let (box, done) = (Box(), DispatchSemaphore(value: 0))
    Task {
        do { try await operation() } catch { box.error = error }
        done.signal()
    }
    done.wait()
    if let error = box.error { throw error }
}
