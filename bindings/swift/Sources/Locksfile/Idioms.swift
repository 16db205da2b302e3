import Foundation
import LocksfileFFI

/// Swift idioms over the generated `LocksFile`: index and range forms, `withLock` closures that
/// release on every exit path, `Duration` timeouts, and an `async` acquire that waits off the
/// cooperative thread pool and honours task cancellation. Errors are `LocksFileError` cases.
extension LocksFile {
    /// Opens (or creates, never truncating) the lock file at `path`.
    public convenience init(path: String, scope: Scope = .openFile, create: Bool = true, mode: UInt32 = 0o644) throws {
        try self.init(path: path, options: OpenOptions(scope: scope, create: create, mode: mode))
    }

    // MARK: Acquiring

    /// Takes lock `index` in `mode`, waiting as long as it takes.
    public func acquire(_ mode: LockMode, _ index: UInt64) throws {
        try fastAcquire(index, 1, mode, wait: true)
    }

    /// Takes every lock of `range` (all or none), waiting as long as it takes.
    public func acquire(_ mode: LockMode, _ range: Range<UInt64>) throws {
        try fastAcquire(range.lowerBound, try range.fastCount(), mode, wait: true)
    }

    /// Takes every lock of `range` (all or none), waiting as long as it takes.
    public func acquire(_ mode: LockMode, _ range: ClosedRange<UInt64>) throws {
        try fastAcquire(range.lowerBound, try range.count64(), mode, wait: true)
    }

    /// Takes every lock from `range.lowerBound` on.
    public func acquire(_ mode: LockMode, _ range: PartialRangeFrom<UInt64>) throws {
        try acquire(start: range.lowerBound, count: nil, mode: mode)
    }

    /// Takes lock `index` if no other owner is in the way: false on conflict.
    public func tryAcquire(_ mode: LockMode, _ index: UInt64) throws -> Bool {
        try fastAcquire(index, 1, mode, wait: false)
    }

    /// Takes `range` if no other owner is in the way: false on conflict.
    public func tryAcquire(_ mode: LockMode, _ range: Range<UInt64>) throws -> Bool {
        try fastAcquire(range.lowerBound, try range.fastCount(), mode, wait: false)
    }

    /// Takes `range` if no other owner is in the way: false on conflict.
    public func tryAcquire(_ mode: LockMode, _ range: ClosedRange<UInt64>) throws -> Bool {
        try fastAcquire(range.lowerBound, try range.count64(), mode, wait: false)
    }

    /// Takes lock `index`, waiting at most `timeout`: false at the deadline, holding nothing new.
    public func acquire(_ mode: LockMode, _ index: UInt64, timeout: Duration) throws -> Bool {
        try acquireTimeout(start: index, count: 1, mode: mode, timeout: timeout.seconds)
    }

    /// Takes `range`, waiting at most `timeout`: false at the deadline, holding nothing new.
    public func acquire(_ mode: LockMode, _ range: Range<UInt64>, timeout: Duration) throws -> Bool {
        try acquireTimeout(start: range.lowerBound, count: range.count64, mode: mode, timeout: timeout.seconds)
    }

    /// Takes `range` without blocking the cooperative thread pool: the kernel wait runs on a thread
    /// of its own, in slices; cancelling the task ends it (throwing `CancellationError`) holding
    /// nothing new. With a `timeout`, false at the deadline.
    public func acquire(_ mode: LockMode, _ range: Range<UInt64>, timeout: Duration? = nil) async throws -> Bool {
        let (start, count) = (range.lowerBound, range.count64)
        if try tryAcquire(start: start, count: count, mode: mode) { return true }
        let cancelled = CancelFlag()
        let deadline = timeout.map { Date().addingTimeInterval($0.seconds) }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, Error>) in
                let waiter = Thread {
                    do {
                        while true {
                            if cancelled.isSet { continuation.resume(throwing: CancellationError()); return }
                            let left = deadline.map { max(0, $0.timeIntervalSinceNow) } ?? LocksFile.slice
                            if try self.acquireTimeout(start: start, count: count, mode: mode, timeout: min(left, LocksFile.slice)) {
                                if cancelled.isSet {
                                    try? self.release(start: start, count: count)
                                    continuation.resume(throwing: CancellationError())
                                } else {
                                    continuation.resume(returning: true)
                                }
                                return
                            }
                            if let deadline, deadline.timeIntervalSinceNow <= 0 { continuation.resume(returning: false); return }
                        }
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                waiter.start()
            }
        } onCancel: {
            cancelled.set()
        }
    }

    /// How long one kernel wait of an `async` acquire lasts before it checks for cancellation.
    static let slice: TimeInterval = 0.05

    // MARK: Releasing

    /// Releases lock `index`.
    public func release(_ index: UInt64) throws {
        try fastRelease(index, 1)
    }

    /// Releases whatever this handle holds in `range`.
    public func release(_ range: Range<UInt64>) throws {
        try fastRelease(range.lowerBound, try range.fastCount())
    }

    /// Releases whatever this handle holds in `range`.
    public func release(_ range: ClosedRange<UInt64>) throws {
        try fastRelease(range.lowerBound, try range.count64())
    }

    // MARK: The direct call path (count 0 = open-ended there; callers pass counts >= 1)

    @discardableResult
    func fastAcquire(_ start: UInt64, _ count: UInt64, _ mode: LockMode, wait: Bool) throws -> Bool {
        let flags = (mode == .write ? LOCKSFILE_WRITE : 0) | (wait ? LOCKSFILE_BLOCK : 0)
        while true {
            let status = withExtendedLifetime(self) { locksfile_fast_acquire(fastLaneToken(), start, count, flags) }
            switch status {
            case LOCKSFILE_DONE: return true
            case LOCKSFILE_NOT_ACQUIRED: return false
            case LOCKSFILE_INTERRUPTED: continue // a signal handler ran; wait again
            default: try raiseFastLaneError(); return false
            }
        }
    }

    func fastRelease(_ start: UInt64, _ count: UInt64) throws {
        let status = withExtendedLifetime(self) { locksfile_fast_release(fastLaneToken(), start, count) }
        if status != LOCKSFILE_DONE { try raiseFastLaneError() }
    }

    // MARK: Scoped locks

    /// Runs `body` holding lock `index` in `mode`; releases it on every exit path, throws included.
    public func withLock<T>(_ mode: LockMode, _ index: UInt64, _ body: () throws -> T) throws -> T {
        try withLock(mode, index..<index + 1, body)
    }

    /// Runs `body` holding `range` in `mode`; releases it on every exit path, throws included.
    public func withLock<T>(_ mode: LockMode, _ range: Range<UInt64>, _ body: () throws -> T) throws -> T {
        try acquire(mode, range)
        defer { try? release(range) }
        return try body()
    }

    /// Runs `body` holding `range` in `mode`; releases it on every exit path, throws included.
    public func withLock<T>(_ mode: LockMode, _ range: ClosedRange<UInt64>, _ body: () throws -> T) throws -> T {
        try acquire(mode, range)
        defer { try? release(range) }
        return try body()
    }
}

extension Range where Bound == UInt64 {
    /// The count as the FFI takes it (an empty range gives 0, which the core rejects by name).
    var count64: UInt64 { upperBound - lowerBound }

    /// The count for the direct path, where 0 would mean open-ended: an empty range is an error.
    func fastCount() throws -> UInt64 {
        if isEmpty {
            throw LocksFileError.InvalidRange(
                start: lowerBound, count: 0,
                detail: "invalid lock range (start \(lowerBound), count 0): count must be at least 1")
        }
        return count64
    }
}

extension ClosedRange where Bound == UInt64 {
    /// The count, or an `InvalidRange` error when it does not fit (0...UInt64.max).
    func count64() throws -> UInt64 {
        let (count, overflow) = (upperBound - lowerBound).addingReportingOverflow(1)
        if overflow {
            throw LocksFileError.InvalidRange(
                start: lowerBound, count: nil,
                detail: "invalid lock range (start \(lowerBound), count 2^64): the last index must not exceed 9223372036854775807 (the largest off_t)")
        }
        return count
    }
}

extension Duration {
    /// Seconds as a `TimeInterval`.
    var seconds: TimeInterval {
        let (whole, fraction) = components
        return TimeInterval(whole) + TimeInterval(fraction) / 1e18
    }
}

/// A flag set from a cancellation handler and read by the waiting thread.
final class CancelFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
