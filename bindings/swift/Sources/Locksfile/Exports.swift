import LocksfileGenerated

// The generated types users need, by their own names. The rest of the generated module (the class
// `LocksFileHandle` with its generated methods, `OpenOptions`, `checkRange`) stays inside the package:
// a module that imports `Locksfile` does not see it.

/// How a lock is held: `.read` (shared: any number of owners at once) or `.write` (exclusive).
public typealias LockMode = LocksfileGenerated.LockMode
/// Who owns the locks a handle takes: `.openFile` (each handle; no deadlock detection) or
/// `.process` (classic POSIX locks of the process; the kernel detects deadlocks).
public typealias Scope = LocksfileGenerated.Scope
/// The family of a kernel lock another owner holds (`Holder.kind`).
public typealias LockClass = LocksfileGenerated.LockClass
/// A run of locks a handle holds in one mode (`held()`); `count` nil: every lock from `start` on.
public typealias HeldRange = LocksfileGenerated.HeldRange
/// A lock another owner holds (`holders(_:)`), with the holding process when Linux can tell.
public typealias Holder = LocksfileGenerated.Holder
/// Everything that can go wrong, worded by the core the same in every language: each case carries
/// `detail`, the full message. A conflict is not an error (`tryAcquire` and timed acquires answer false).
public typealias LocksFileError = LocksfileGenerated.LocksFileError

/// The generated class `LocksFile` wraps (for the package's tests and bench).
package typealias LocksFileHandle = LocksfileGenerated.LocksFileHandle

extension LocksFile {
    /// The largest lock index: 2^63 - 1 (the largest `off_t`).
    public static var maxIndex: UInt64 { LocksfileGenerated.maxIndex() }
}
