internal import LocksfileGenerated

// The types of the public API. They are this module's own, not the generated ones: the generated
// module is imported `internal`ly and its declarations have `package` access (`cargo make
// swift-package` makes them so), so a module that depends on this package sees nothing of it, not
// even by importing `LocksfileGenerated` by name. The conversions below are all this layer does
// with them; validation and the words of every error stay in the core.

/// How a lock is held: `.read` (shared: any number of owners at once) or `.write` (exclusive).
public enum LockMode: Sendable, Hashable, CaseIterable {
    /// Shared: any number of owners may hold it at once.
    case read
    /// Exclusive: one owner holds it, and nobody else holds it in any mode.
    case write
}

/// Who owns the locks a handle takes.
public enum Scope: Sendable, Hashable, CaseIterable {
    /// Open-file-description locks: each handle is its own owner; handles and threads exclude each
    /// other like processes do. No deadlock detection.
    case openFile
    /// Classic POSIX locks owned by the process: the kernel detects deadlocks between processes.
    /// All handles of one file in a process share the locks and never exclude each other.
    case process
}

/// The family of a kernel lock another owner holds (`Holder.kind`).
public enum LockClass: Sendable, Hashable, CaseIterable {
    /// A classic POSIX record lock, owned by a process.
    case process
    /// An open-file-description lock.
    case openFile
    /// A whole-file flock(2) lock.
    case flock
}

/// A run of locks a handle holds in one mode (`held()`).
public struct HeldRange: Sendable, Hashable {
    /// The first index.
    public var start: UInt64
    /// How many locks; nil for every lock from `start` on.
    public var count: UInt64?
    /// The mode they are held in.
    public var mode: LockMode

    public init(start: UInt64, count: UInt64?, mode: LockMode) {
        self.start = start
        self.count = count
        self.mode = mode
    }
}

/// A lock another owner holds (`holders(_:)`), with the holding process when Linux can tell.
public struct Holder: Sendable, Hashable {
    /// The first index of the lock as the kernel keeps it.
    public var start: UInt64
    /// How many locks; nil for every lock from `start` on.
    public var count: UInt64?
    /// Read or write.
    public var mode: LockMode
    /// Classic (process-owned), open-file-description or flock lock.
    public var kind: LockClass
    /// The holding process, when Linux can tell.
    public var pid: UInt32?

    public init(start: UInt64, count: UInt64?, mode: LockMode, kind: LockClass, pid: UInt32?) {
        self.start = start
        self.count = count
        self.mode = mode
        self.kind = kind
        self.pid = pid
    }
}

/// Everything that can go wrong, worded by the core the same in every language: each case carries
/// `detail`, the full message (also `localizedDescription`). A conflict is not an error
/// (`tryAcquire` and timed acquires answer false); a cancelled `async` acquire throws
/// `CancellationError`.
public enum LocksFileError: Error, Sendable, Hashable {
    /// The indices do not form a lockable range (an empty range, or past the largest index).
    case InvalidRange(detail: String)
    /// A timeout is negative.
    case InvalidTimeout(detail: String)
    /// A write lock was asked of a file that could only be opened read-only.
    case NotWritable(path: String, detail: String)
    /// The kernel found that waiting would deadlock (`.process` scope only).
    case Deadlock(path: String, detail: String)
    /// A signal interrupted a wait; nothing new is held. (The acquires of this layer wait again
    /// once the signal's handler has run, so they do not throw it.)
    case Interrupted(path: String, detail: String)
    /// The kernel's lock table is full (ENOLCK).
    case NoLocksAvailable(path: String, detail: String)
    /// The lock file does not exist and `create` is false.
    case NotFound(path: String, detail: String)
    /// The directory that should hold the lock file does not exist.
    case MissingDirectory(path: String, detail: String)
    /// The path names a directory.
    case IsDirectory(path: String, detail: String)
    /// Another operating-system error; `osError` is the errno when there is one.
    case Io(operation: String, path: String, osError: Int32?, detail: String)
    /// The handle was closed, before or during the call; nothing new is held.
    case Closed(path: String, detail: String)

    /// The full message, the same in every language.
    public var detail: String {
        switch self {
        case .InvalidRange(let detail), .InvalidTimeout(let detail): return detail
        case .NotWritable(_, let detail), .Deadlock(_, let detail), .Interrupted(_, let detail),
             .NoLocksAvailable(_, let detail), .NotFound(_, let detail), .MissingDirectory(_, let detail),
             .IsDirectory(_, let detail), .Closed(_, let detail):
            return detail
        case .Io(_, _, _, let detail): return detail
        }
    }
}

#if canImport(Foundation)
import Foundation

extension LocksFileError: LocalizedError {
    /// `detail`.
    public var errorDescription: String? { detail }
}
#endif

// MARK: Conversions (this module only)

extension LockMode {
    init(_ mode: LocksfileGenerated.LockMode) {
        switch mode {
        case .read: self = .read
        case .write: self = .write
        }
    }

    var generated: LocksfileGenerated.LockMode {
        switch self {
        case .read: return .read
        case .write: return .write
        }
    }
}

extension Scope {
    init(_ scope: LocksfileGenerated.Scope) {
        switch scope {
        case .openFile: self = .openFile
        case .process: self = .process
        }
    }

    var generated: LocksfileGenerated.Scope {
        switch self {
        case .openFile: return .openFile
        case .process: return .process
        }
    }
}

extension LockClass {
    init(_ kind: LocksfileGenerated.LockClass) {
        switch kind {
        case .process: self = .process
        case .openFile: self = .openFile
        case .flock: self = .flock
        }
    }
}

extension HeldRange {
    init(_ held: LocksfileGenerated.HeldRange) {
        self.init(start: held.start, count: held.count, mode: LockMode(held.mode))
    }
}

extension Holder {
    init(_ holder: LocksfileGenerated.Holder) {
        self.init(start: holder.start, count: holder.count, mode: LockMode(holder.mode), kind: LockClass(holder.kind), pid: holder.pid)
    }
}

extension LocksFileError {
    init(_ error: LocksfileGenerated.LocksFileError) {
        switch error {
        case .InvalidRange(let detail): self = .InvalidRange(detail: detail)
        case .InvalidTimeout(let detail): self = .InvalidTimeout(detail: detail)
        case .NotWritable(let path, let detail): self = .NotWritable(path: path, detail: detail)
        case .Deadlock(let path, let detail): self = .Deadlock(path: path, detail: detail)
        case .Interrupted(let path, let detail): self = .Interrupted(path: path, detail: detail)
        case .NoLocksAvailable(let path, let detail): self = .NoLocksAvailable(path: path, detail: detail)
        case .NotFound(let path, let detail): self = .NotFound(path: path, detail: detail)
        case .MissingDirectory(let path, let detail): self = .MissingDirectory(path: path, detail: detail)
        case .IsDirectory(let path, let detail): self = .IsDirectory(path: path, detail: detail)
        case .Io(let operation, let path, let osError, let detail):
            self = .Io(operation: operation, path: path, osError: osError, detail: detail)
        case .Closed(let path, let detail): self = .Closed(path: path, detail: detail)
        }
    }
}

/// Runs a generated call, its errors thrown as this module's `LocksFileError` (anything else, such
/// as uniffi's report of a Rust panic, as it is).
@inline(__always)
func converting<T>(_ call: () throws -> T) throws -> T {
    do {
        return try call()
    } catch let error as LocksfileGenerated.LocksFileError {
        throw LocksFileError(error)
    }
}
