import Foundation
import LocksfileFFI
import LocksfileGenerated
#if canImport(Glibc)
import Glibc
#endif

/// An open lock file: lock `i` is byte `i` of it, taken shared (`.read`) or exclusive (`.write`),
/// one index or a range at a time (all or none). Closing it, or its end, releases every lock it
/// holds.
///
/// Index and range forms, `withLock` closures that release on every exit path, `Duration` timeouts,
/// and an `async` acquire that waits off the cooperative thread pool and honours task
/// cancellation. Errors are `LocksFileError` cases, worded by the native core (bad ranges and
/// timeouts included), the same in every language.
///
/// Safe to share between threads and tasks (the core is thread-safe); in `.openFile` scope the
/// threads sharing one handle share its locks.
public final class LocksFile: Sendable {
    /// The generated object. It owns the core's handle, which `token` names on the direct call
    /// path for as long as it lives: it lives as long as this object, so `token` stays valid.
    package let handle: LocksFileHandle
    /// The direct call path's name of `handle`, fetched once (a generated call costs as much as
    /// the rest of an acquire).
    package let token: UInt64

    /// The path the file was opened by.
    public let path: String
    /// The scope the file was opened in.
    public let scope: Scope
    /// Whether the file is open for writing (write locks need it).
    public let isWritable: Bool

    /// Opens (or creates, never truncating) the lock file at `path`; read-only when it is not
    /// writable. `mode`: the permission bits of a new file, less the umask.
    public init(path: String, scope: Scope = .openFile, create: Bool = true, mode: UInt32 = 0o644) throws {
        handle = try LocksFileHandle(path: path, options: OpenOptions(scope: scope, create: create, mode: mode))
        token = handle.fastLaneToken()
        self.path = handle.path()
        self.scope = handle.scope()
        isWritable = handle.isWritable()
    }

    // MARK: Acquiring

    /// Takes lock `index` in `mode`, waiting as long as it takes.
    public func acquire(_ mode: LockMode, _ index: UInt64) throws {
        try fastAcquire(FastSpan(index), mode, wait: true)
    }

    /// Takes every lock of `range` (all or none), waiting as long as it takes.
    public func acquire(_ mode: LockMode, _ range: Range<UInt64>) throws {
        try fastAcquire(FastSpan(range), mode, wait: true)
    }

    /// Takes every lock of `range` (all or none), waiting as long as it takes.
    public func acquire(_ mode: LockMode, _ range: ClosedRange<UInt64>) throws {
        try fastAcquire(try FastSpan(range), mode, wait: true)
    }

    /// Takes every lock from `range.lowerBound` on.
    public func acquire(_ mode: LockMode, _ range: PartialRangeFrom<UInt64>) throws {
        try fastAcquire(FastSpan(range), mode, wait: true)
    }

    /// Takes lock `index` if no other owner is in the way: false on conflict.
    public func tryAcquire(_ mode: LockMode, _ index: UInt64) throws -> Bool {
        try fastAcquire(FastSpan(index), mode, wait: false)
    }

    /// Takes `range` if no other owner is in the way: false on conflict.
    public func tryAcquire(_ mode: LockMode, _ range: Range<UInt64>) throws -> Bool {
        try fastAcquire(FastSpan(range), mode, wait: false)
    }

    /// Takes `range` if no other owner is in the way: false on conflict.
    public func tryAcquire(_ mode: LockMode, _ range: ClosedRange<UInt64>) throws -> Bool {
        try fastAcquire(try FastSpan(range), mode, wait: false)
    }

    /// Takes every lock from `range.lowerBound` on if no other owner is in the way: false on conflict.
    public func tryAcquire(_ mode: LockMode, _ range: PartialRangeFrom<UInt64>) throws -> Bool {
        try fastAcquire(FastSpan(range), mode, wait: false)
    }

    /// Takes lock `index`, waiting at most `timeout`: false at the deadline, holding nothing new.
    /// A negative `timeout` is an `InvalidTimeout` error.
    public func acquire(_ mode: LockMode, _ index: UInt64, timeout: Duration) throws -> Bool {
        try fastAcquire(FastSpan(index), mode, timeout: timeout.seconds)
    }

    /// Takes `range`, waiting at most `timeout`: false at the deadline, holding nothing new.
    public func acquire(_ mode: LockMode, _ range: Range<UInt64>, timeout: Duration) throws -> Bool {
        try fastAcquire(FastSpan(range), mode, timeout: timeout.seconds)
    }

    /// Takes `range`, waiting at most `timeout`: false at the deadline, holding nothing new.
    public func acquire(_ mode: LockMode, _ range: ClosedRange<UInt64>, timeout: Duration) throws -> Bool {
        try fastAcquire(try FastSpan(range), mode, timeout: timeout.seconds)
    }

    /// Takes every lock from `range.lowerBound` on, waiting at most `timeout`: false at the deadline.
    public func acquire(_ mode: LockMode, _ range: PartialRangeFrom<UInt64>, timeout: Duration) throws -> Bool {
        try fastAcquire(FastSpan(range), mode, timeout: timeout.seconds)
    }

    /// Takes `range` without blocking the cooperative thread pool: the kernel wait runs on a thread
    /// of its own, in slices; cancelling the task ends it (throwing `CancellationError`) holding
    /// nothing new, and so does closing the handle (throwing `Closed`). With a `timeout`, false at
    /// the deadline.
    public func acquire(_ mode: LockMode, _ range: Range<UInt64>, timeout: Duration? = nil) async throws -> Bool {
        let span = FastSpan(range)
        let seconds = timeout?.seconds ?? .infinity
        // A try on the caller's thread; with the caller's timeout (at most 0), so the core checks it first.
        if try fastAcquire(span, mode, timeout: min(seconds, 0)) { return true }
        let cancelled = CancelFlag()
        let clock = ContinuousClock()
        let began = clock.now
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, Error>) in
                // (Started from the cooperative pool, this thread blocks every signal; the core
                // unblocks its wake signal for each wait, so the wait still queues in the kernel.)
                let waiter = Thread {
                    do {
                        while true {
                            if cancelled.isSet { continuation.resume(throwing: CancellationError()); return }
                            let left = max(0, seconds - (clock.now - began).seconds)
                            if try self.fastAcquire(span, mode, timeout: min(left, LocksFile.slice)) {
                                if cancelled.isSet {
                                    try? self.fastRelease(span)
                                    continuation.resume(throwing: CancellationError())
                                } else {
                                    continuation.resume(returning: true)
                                }
                                return
                            }
                            if left <= LocksFile.slice { continuation.resume(returning: false); return }
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

    /// How long one kernel wait of an `async` acquire lasts before it checks for cancellation, in seconds.
    static let slice: Double = 0.05

    // MARK: Releasing

    /// Releases lock `index`.
    public func release(_ index: UInt64) throws {
        try fastRelease(FastSpan(index))
    }

    /// Releases whatever this handle holds in `range`.
    public func release(_ range: Range<UInt64>) throws {
        try fastRelease(FastSpan(range))
    }

    /// Releases whatever this handle holds in `range`.
    public func release(_ range: ClosedRange<UInt64>) throws {
        try fastRelease(try FastSpan(range))
    }

    /// Releases every lock from `range.lowerBound` on.
    public func release(_ range: PartialRangeFrom<UInt64>) throws {
        try fastRelease(FastSpan(range))
    }

    /// Releases everything this handle holds.
    public func releaseAll() throws {
        try handle.releaseAll()
    }

    // MARK: Scoped locks

    /// Runs `body` holding lock `index` in `mode`; releases it on every exit path, throws included.
    public func withLock<T>(_ mode: LockMode, _ index: UInt64, _ body: () throws -> T) throws -> T {
        try acquire(mode, index)
        defer { try? release(index) }
        return try body()
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

    /// Runs `body` holding every lock from `range.lowerBound` on; releases them on every exit path.
    public func withLock<T>(_ mode: LockMode, _ range: PartialRangeFrom<UInt64>, _ body: () throws -> T) throws -> T {
        try acquire(mode, range)
        defer { try? release(range) }
        return try body()
    }

    // MARK: Looking

    /// What this handle holds, as coalesced runs in index order.
    public func held() throws -> [HeldRange] {
        try handle.held()
    }

    /// The mode this handle holds `index` in, or nil.
    public func modeOf(_ index: UInt64) throws -> LockMode? {
        try handle.modeOf(index: index)
    }

    /// The locks other owners hold that overlap lock `index`, with the holding process.
    public func holders(_ index: UInt64) throws -> [Holder] {
        try holders(FastSpan(index))
    }

    /// The locks other owners hold that overlap `range`, with the holding process.
    public func holders(_ range: Range<UInt64>) throws -> [Holder] {
        try holders(FastSpan(range))
    }

    /// The locks other owners hold that overlap `range`, with the holding process.
    public func holders(_ range: ClosedRange<UInt64>) throws -> [Holder] {
        try holders(try FastSpan(range))
    }

    /// The locks other owners hold from `range.lowerBound` on, with the holding process.
    public func holders(_ range: PartialRangeFrom<UInt64>) throws -> [Holder] {
        try holders(FastSpan(range))
    }

    private func holders(_ span: FastSpan) throws -> [Holder] {
        try handle.holders(start: span.start, count: span.flags & LOCKSFILE_TO_END != 0 ? nil : span.count)
    }

    /// Whether the path no longer names the open file (deleted or replaced).
    public func isStale() throws -> Bool {
        try handle.isStale()
    }

    // MARK: Closing

    /// Releases every lock and closes the file; later calls fail with `Closed`. A wait in progress
    /// on this handle in another thread ends promptly with `Closed`, holding nothing new; this
    /// returns once it has. Idempotent. Throws only in `.process` scope, `NoLocksAvailable`, when
    /// the kernel cannot split a lock to release what this handle alone held (the file is closed
    /// all the same). Without a call, the end of this object closes it.
    public func close() throws {
        try handle.closeFile()
    }

    // MARK: The direct call path (the core validates ranges and timeouts, and words their errors)

    @discardableResult
    func fastAcquire(_ span: FastSpan, _ mode: LockMode, wait: Bool) throws -> Bool {
        let flags = span.flags | mode.flag | (wait ? LOCKSFILE_BLOCK : 0)
        while true {
            let status = withExtendedLifetime(self) { locksfile_fast_acquire(token, span.start, span.count, flags) }
            if status != LOCKSFILE_INTERRUPTED { return try fastResult(status) }
            // A signal handler ran: wait again.
        }
    }

    /// One wait of at most `seconds` (infinite: no limit; negative: `InvalidTimeout`).
    func fastAcquire(_ span: FastSpan, _ mode: LockMode, timeout seconds: Double) throws -> Bool {
        let flags = span.flags | mode.flag
        let clock = ContinuousClock()
        let began = clock.now
        var left = seconds
        while true {
            let status = withExtendedLifetime(self) {
                locksfile_fast_acquire_timeout(token, span.start, span.count, flags, left)
            }
            if status != LOCKSFILE_INTERRUPTED { return try fastResult(status) }
            // A signal handler ran: wait for the rest of the time.
            left = max(0, seconds - (clock.now - began).seconds)
        }
    }

    func fastRelease(_ span: FastSpan) throws {
        while true {
            let status = withExtendedLifetime(self) { locksfile_fast_release(token, span.start, span.count, span.flags) }
            if status != LOCKSFILE_INTERRUPTED { _ = try fastResult(status); return }
        }
    }

    /// Done (true) or not acquired (false); a failure is thrown as the generated path throws it.
    @inline(__always)
    private func fastResult(_ status: Int32) throws -> Bool {
        switch status {
        case LOCKSFILE_DONE: return true
        case LOCKSFILE_NOT_ACQUIRED: return false
        default: try handle.raiseFastLaneError(); return false
        }
    }
}

extension LockMode {
    /// The direct path's flag for this mode.
    var flag: UInt32 {
        switch self {
        case .write: return LOCKSFILE_WRITE
        case .read: return 0
        }
    }
}

/// A range as the direct path takes it: `count` locks from `start`, or every lock from `start` on
/// (`LOCKSFILE_TO_END`). Not checked here: an empty range is a count of 0, which the core reports.
struct FastSpan {
    let start: UInt64
    let count: UInt64
    let flags: UInt32

    init(start: UInt64, count: UInt64, flags: UInt32 = 0) {
        self.start = start
        self.count = count
        self.flags = flags
    }

    init(_ index: UInt64) {
        self.init(start: index, count: 1)
    }

    init(_ range: Range<UInt64>) {
        self.init(start: range.lowerBound, count: range.upperBound - range.lowerBound)
    }

    init(_ range: PartialRangeFrom<UInt64>) {
        self.init(start: range.lowerBound, count: 0, flags: LOCKSFILE_TO_END)
    }

    /// `0...UInt64.max` has 2^64 locks, more than a `UInt64` counts: that count goes to the core as
    /// a decimal string, and the core words the error.
    init(_ range: ClosedRange<UInt64>) throws {
        let (count, overflow) = (range.upperBound - range.lowerBound).addingReportingOverflow(1)
        guard overflow else {
            self.init(start: range.lowerBound, count: count)
            return
        }
        let span = try checkRange(start: String(range.lowerBound), count: "18446744073709551616") // 2^64
        self.init(start: span.start, count: span.count ?? 0, flags: span.count == nil ? LOCKSFILE_TO_END : 0)
    }
}

extension Duration {
    /// Seconds as a `Double` (negative for a negative duration).
    var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }
}

/// A flag set from a cancellation handler and read by the waiting thread.
final class CancelFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}
