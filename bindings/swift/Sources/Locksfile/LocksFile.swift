internal import LocksfileFFI
internal import LocksfileGenerated
#if canImport(Glibc)
import Glibc
#endif

/// An open lock file: lock `i` is byte `i` of it, taken shared (`.read`) or exclusive (`.write`),
/// one index or a range at a time (all or none). Closing it, or its end, releases every lock it
/// holds.
///
/// Index, range and name forms (a `String` names the lock `LocksFile.indexOf(name)`), `withLock`
/// closures that release on every exit path, `Duration` timeouts, and `async` forms of every
/// acquire, which wait off the cooperative thread pool and honour task cancellation. Errors are
/// `LocksFileError` cases, worded by the native core (bad ranges and timeouts included), the same
/// in every language. `fair: true` opens a handle that prefers writers.
///
/// Safe to share between threads and tasks (the core is thread-safe); in `.openFile` scope the
/// threads sharing one handle share its locks.
public final class LocksFile: Sendable {
    /// The generated object. It owns the core's handle, which `token` names on the direct call
    /// path for as long as it lives: it lives as long as this object, so `token` stays valid.
    let handle: LocksFileHandle
    /// The direct call path's name of `handle`, fetched once (a generated call costs as much as
    /// the rest of an acquire). Visible to the repository's benchmark only
    /// (`@_spi(Bench) import Locksfile`), which calls the direct path as C for its floor.
    @_spi(Bench) public let token: UInt64

    /// The path the file was opened by.
    public let path: String
    /// The scope the file was opened in.
    public let scope: Scope
    /// Whether the file is open for writing (write locks need it).
    public let isWritable: Bool
    /// Whether the handle prefers writers (opened with `fair: true`).
    public let isFair: Bool

    /// Opens (or creates, never truncating) the lock file at `path`; read-only when it is not
    /// writable. `mode`: the permission bits of a new file, less the umask.
    ///
    /// `fair`: prefer writers. A fair handle's waiting writer holds back new readers of fair
    /// handles, so overlapping readers cannot starve it (handles that are not fair do not wait
    /// for it). A fair handle's indices are below 2^62 (names fit): larger ones are
    /// `InvalidRange`, and an open-ended range ends there. (An `async` acquire waits in turns, each
    /// passing the gates anew: a fair reader queued at them may slip in between two turns.)
    public init(path: String, scope: Scope = .openFile, create: Bool = true, mode: UInt32 = 0o644, fair: Bool = false) throws {
        handle = try converting {
            try LocksFileHandle(path: path, options: OpenOptions(scope: scope.generated, create: create, mode: mode, fair: fair))
        }
        token = handle.fastLaneToken()
        self.path = handle.path()
        self.scope = Scope(handle.scope())
        isWritable = handle.isWritable()
        isFair = handle.isFair()
    }

    /// The largest lock index: 2^63 - 1 (the largest `off_t`).
    public static var maxIndex: UInt64 { LocksfileGenerated.maxIndex() }

    /// The lock index of `name`, the same in every language and in the `locksfile` command (a
    /// stable hash of its UTF-8 bytes, from 2^61 up to 2^62 - 1, away from numbered locks). Every
    /// function that takes an index also takes a name and locks this index.
    public static func indexOf(_ name: String) -> UInt64 {
        LocksfileGenerated.indexOf(name: name)
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

    /// Takes the lock of `name` (`indexOf(name)`) in `mode`, waiting as long as it takes.
    public func acquire(_ mode: LockMode, _ name: String) throws {
        try fastAcquire(FastSpan(name: name), mode, wait: true)
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

    /// Takes the lock of `name` if no other owner is in the way: false on conflict.
    public func tryAcquire(_ mode: LockMode, _ name: String) throws -> Bool {
        try fastAcquire(FastSpan(name: name), mode, wait: false)
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

    /// Takes the lock of `name`, waiting at most `timeout`: false at the deadline, holding nothing new.
    public func acquire(_ mode: LockMode, _ name: String, timeout: Duration) throws -> Bool {
        try fastAcquire(FastSpan(name: name), mode, timeout: timeout.seconds)
    }

    // MARK: Acquiring without blocking a thread of the caller's

    /// Takes lock `index` in `mode`, waiting as long as it takes without blocking the caller's
    /// thread (how, and how cancellation works: `acquire(_:_:timeout:)`). Cancelling the task ends
    /// the wait with `CancellationError`, holding nothing new.
    public func acquire(_ mode: LockMode, _ index: UInt64) async throws {
        _ = try await acquireAsync(FastSpan(index), mode, timeout: nil)
    }

    /// Takes every lock of `range` (all or none), waiting as long as it takes without blocking the
    /// caller's thread. Cancelling the task ends the wait with `CancellationError`.
    public func acquire(_ mode: LockMode, _ range: Range<UInt64>) async throws {
        _ = try await acquireAsync(FastSpan(range), mode, timeout: nil)
    }

    /// Takes every lock of `range` (all or none), waiting as long as it takes without blocking the
    /// caller's thread. Cancelling the task ends the wait with `CancellationError`.
    public func acquire(_ mode: LockMode, _ range: ClosedRange<UInt64>) async throws {
        _ = try await acquireAsync(try FastSpan(range), mode, timeout: nil)
    }

    /// Takes every lock from `range.lowerBound` on, waiting as long as it takes without blocking
    /// the caller's thread. Cancelling the task ends the wait with `CancellationError`.
    public func acquire(_ mode: LockMode, _ range: PartialRangeFrom<UInt64>) async throws {
        _ = try await acquireAsync(FastSpan(range), mode, timeout: nil)
    }

    /// Takes the lock of `name`, waiting as long as it takes without blocking the caller's thread.
    /// Cancelling the task ends the wait with `CancellationError`.
    public func acquire(_ mode: LockMode, _ name: String) async throws {
        _ = try await acquireAsync(FastSpan(name: name), mode, timeout: nil)
    }

    /// Takes lock `index`, waiting at most `timeout` without blocking the caller's thread: false at
    /// the deadline, holding nothing new.
    ///
    /// The first attempt runs on the caller's thread and does not wait. After a conflict, the wait
    /// goes to the process's shared pool of waiter threads (at most `asyncWaiterThreads`, however
    /// many tasks wait), which wait in the kernel's queue in slices of at most 50 ms, taking turns
    /// when more requests wait than there are threads. Cancelling the task ends the wait within a
    /// slice with `CancellationError`, holding nothing new; a request the kernel grants before
    /// then returns normally, holding its locks (cancellation is cooperative: check
    /// `Task.isCancelled` after it). Closing the handle ends the wait at once with `Closed`. The
    /// deadline is on the monotonic clock (`ContinuousClock`).
    public func acquire(_ mode: LockMode, _ index: UInt64, timeout: Duration) async throws -> Bool {
        try await acquireAsync(FastSpan(index), mode, timeout: timeout)
    }

    /// Takes `range`, waiting at most `timeout` without blocking the caller's thread: false at the
    /// deadline, holding nothing new. Cancelling the task ends the wait with `CancellationError`.
    public func acquire(_ mode: LockMode, _ range: Range<UInt64>, timeout: Duration) async throws -> Bool {
        try await acquireAsync(FastSpan(range), mode, timeout: timeout)
    }

    /// Takes `range`, waiting at most `timeout` without blocking the caller's thread: false at the
    /// deadline, holding nothing new. Cancelling the task ends the wait with `CancellationError`.
    public func acquire(_ mode: LockMode, _ range: ClosedRange<UInt64>, timeout: Duration) async throws -> Bool {
        try await acquireAsync(try FastSpan(range), mode, timeout: timeout)
    }

    /// Takes every lock from `range.lowerBound` on, waiting at most `timeout` without blocking the
    /// caller's thread: false at the deadline. Cancelling the task ends the wait with
    /// `CancellationError`.
    public func acquire(_ mode: LockMode, _ range: PartialRangeFrom<UInt64>, timeout: Duration) async throws -> Bool {
        try await acquireAsync(FastSpan(range), mode, timeout: timeout)
    }

    /// Takes the lock of `name`, waiting at most `timeout` without blocking the caller's thread:
    /// false at the deadline. Cancelling the task ends the wait with `CancellationError`.
    public func acquire(_ mode: LockMode, _ name: String, timeout: Duration) async throws -> Bool {
        try await acquireAsync(FastSpan(name: name), mode, timeout: timeout)
    }

    /// How many threads at most wait in the kernel for the `async` acquires of this process, all
    /// handles together. More waiting requests take turns on them.
    public static var asyncWaiterThreads: Int { WaiterPool.shared.limit }

    /// The `async` acquires: a try here, then (on conflict) turns on the waiter pool until the
    /// lock is taken, the deadline passes, the task is cancelled or the wait fails.
    private func acquireAsync(_ span: FastSpan, _ mode: LockMode, timeout: Duration?) async throws -> Bool {
        try Task.checkCancellation()
        let deadline = timeout.map { ContinuousClock.now.advanced(by: $0) }
        // Without waiting; with the caller's timeout when it is negative, so the core reports it.
        if try fastAcquire(span, mode, timeout: min(timeout?.seconds ?? 0, 0)) { return true }
        if timeout == .zero { return false }
        let wait = AsyncWait(self, span, mode, deadline: deadline)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                wait.start(continuation)
            }
        } onCancel: {
            wait.cancel()
        }
    }

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

    /// Releases the lock of `name`.
    public func release(_ name: String) throws {
        try fastRelease(FastSpan(name: name))
    }

    /// Releases everything this handle holds.
    public func releaseAll() throws {
        try converting { try handle.releaseAll() }
    }

    // MARK: Scoped locks

    // In synchronous code these forms wait in the calling thread; in `async` code the `async` forms
    // are chosen (the synchronous ones are disfavoured), also for a body that does not await.

    /// Runs `body` holding lock `index` in `mode`; releases it on every exit path, throws included.
    @_disfavoredOverload  // in async code, the async form below (which does not block a thread)
    public func withLock<T>(_ mode: LockMode, _ index: UInt64, _ body: () throws -> T) throws -> T {
        try acquire(mode, index)
        defer { try? release(index) }
        return try body()
    }

    /// Runs `body` holding `range` in `mode`; releases it on every exit path, throws included.
    @_disfavoredOverload  // in async code, the async form below (which does not block a thread)
    public func withLock<T>(_ mode: LockMode, _ range: Range<UInt64>, _ body: () throws -> T) throws -> T {
        try acquire(mode, range)
        defer { try? release(range) }
        return try body()
    }

    /// Runs `body` holding `range` in `mode`; releases it on every exit path, throws included.
    @_disfavoredOverload  // in async code, the async form below (which does not block a thread)
    public func withLock<T>(_ mode: LockMode, _ range: ClosedRange<UInt64>, _ body: () throws -> T) throws -> T {
        try acquire(mode, range)
        defer { try? release(range) }
        return try body()
    }

    /// Runs `body` holding every lock from `range.lowerBound` on; releases them on every exit path.
    @_disfavoredOverload  // in async code, the async form below (which does not block a thread)
    public func withLock<T>(_ mode: LockMode, _ range: PartialRangeFrom<UInt64>, _ body: () throws -> T) throws -> T {
        try acquire(mode, range)
        defer { try? release(range) }
        return try body()
    }

    /// Runs `body` holding the lock of `name` in `mode`; releases it on every exit path, throws included.
    @_disfavoredOverload  // in async code, the async form below (which does not block a thread)
    public func withLock<T>(_ mode: LockMode, _ name: String, _ body: () throws -> T) throws -> T {
        let index = LocksFile.indexOf(name)
        try acquire(mode, index)
        defer { try? release(index) }
        return try body()
    }

    /// Runs `body` holding lock `index` in `mode`, taken with the `async` acquire (the task waits,
    /// no thread does; cancellation ends the wait); releases it on every exit path, throws included.
    public func withLock<T>(
        _ mode: LockMode, _ index: UInt64, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> sending T
    ) async throws -> sending T {
        try await acquire(mode, index)
        defer { try? release(index) }
        return try await body()
    }

    /// Runs `body` holding `range` in `mode`, taken with the `async` acquire; releases it on every
    /// exit path, throws included.
    public func withLock<T>(
        _ mode: LockMode, _ range: Range<UInt64>, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> sending T
    ) async throws -> sending T {
        try await acquire(mode, range)
        defer { try? release(range) }
        return try await body()
    }

    /// Runs `body` holding `range` in `mode`, taken with the `async` acquire; releases it on every
    /// exit path, throws included.
    public func withLock<T>(
        _ mode: LockMode, _ range: ClosedRange<UInt64>, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> sending T
    ) async throws -> sending T {
        try await acquire(mode, range)
        defer { try? release(range) }
        return try await body()
    }

    /// Runs `body` holding every lock from `range.lowerBound` on, taken with the `async` acquire;
    /// releases them on every exit path.
    public func withLock<T>(
        _ mode: LockMode, _ range: PartialRangeFrom<UInt64>, isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> sending T
    ) async throws -> sending T {
        try await acquire(mode, range)
        defer { try? release(range) }
        return try await body()
    }

    /// Runs `body` holding the lock of `name` in `mode`, taken with the `async` acquire; releases it
    /// on every exit path, throws included.
    public func withLock<T>(
        _ mode: LockMode, _ name: String, isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> sending T
    ) async throws -> sending T {
        let index = LocksFile.indexOf(name)
        try await acquire(mode, index)
        defer { try? release(index) }
        return try await body()
    }

    // MARK: Looking

    /// What this handle holds, as coalesced runs in index order.
    public func held() throws -> [HeldRange] {
        try converting { try handle.held() }.map(HeldRange.init)
    }

    /// The mode this handle holds `index` in, or nil.
    public func modeOf(_ index: UInt64) throws -> LockMode? {
        try converting { try handle.modeOf(index: index) }.map(LockMode.init)
    }

    /// The mode this handle holds the lock of `name` in, or nil.
    public func modeOf(_ name: String) throws -> LockMode? {
        try modeOf(LocksFile.indexOf(name))
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

    /// The locks other owners hold on the lock of `name`, with the holding process.
    public func holders(_ name: String) throws -> [Holder] {
        try holders(FastSpan(name: name))
    }

    private func holders(_ span: FastSpan) throws -> [Holder] {
        try converting {
            try handle.holders(start: span.start, count: span.flags & LOCKSFILE_TO_END != 0 ? nil : span.count)
        }.map(Holder.init)
    }

    /// Whether the path no longer names the open file (deleted or replaced).
    public func isStale() throws -> Bool {
        try converting { try handle.isStale() }
    }

    // MARK: Closing

    /// Releases every lock and closes the file; later calls fail with `Closed`. A wait in progress
    /// on this handle in another thread ends promptly with `Closed`, holding nothing new; this
    /// returns once it has. Idempotent. Throws only in `.process` scope, `NoLocksAvailable`, when
    /// the kernel cannot split a lock to release what this handle alone held (the file is closed
    /// all the same). Without a call, the end of this object closes it.
    public func close() throws {
        try converting { try handle.closeFile() }
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
        default: try converting { try handle.raiseFastLaneError() }; return false
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

    /// The lock of `name`: its index, from the core.
    init(name: String) {
        self.init(LocksFile.indexOf(name))
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
        let span = try converting { try checkRange(start: String(range.lowerBound), count: "18446744073709551616") } // 2^64
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
