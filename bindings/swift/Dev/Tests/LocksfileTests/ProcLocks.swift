import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The kernel's lock table, `/proc/locks`, seen for one lock file: tests wait for a state (a request
/// queued behind a holder), never for the clock. A line is `ID: [-> ]CLASS ADVISORY MODE PID
/// MAJ:MIN:INODE START END`; `->` marks a request waiting behind the lock above it. Lines are
/// matched by inode only: on some filesystems the device /proc/locks names is not the one stat reports.
struct ProcLocks {
    /// A lock or a waiting request on the file, from one line of /proc/locks.
    struct Entry: CustomStringConvertible {
        let waiting: Bool
        let write: Bool
        let first: UInt64
        let last: UInt64?  // nil: to the end of the file (EOF)

        func covers(_ index: UInt64) -> Bool { index >= first && (last.map { index <= $0 } ?? true) }
        var description: String { "\(waiting ? "-> " : "")\(first)..\(last.map(String.init) ?? "EOF")" }
    }

    struct Timeout: Error, CustomStringConvertible {
        let description: String
    }

    let path: String
    let inode: UInt64

    init(_ path: String) throws {
        var status = stat()
        guard stat(path, &status) == 0 else { throw Timeout(description: "cannot stat \(path): errno \(errno)") }
        self.path = path
        inode = UInt64(status.st_ino)
    }

    func entries() -> [Entry] {
        let table = FileHandle(forReadingAtPath: "/proc/locks").map { String(decoding: $0.readDataToEndOfFile(), as: UTF8.self) } ?? ""
        return table.split(separator: "\n").compactMap { line in
            var words = line.split(separator: " ").dropFirst()
            let waiting = words.first == "->"
            if waiting { words = words.dropFirst() }
            let fields = Array(words)
            guard fields.count >= 7, UInt64(fields[4].split(separator: ":").last ?? "") == inode,
                  let first = UInt64(fields[5]) else { return nil }
            return Entry(waiting: waiting, write: fields[2] == "WRITE", first: first, last: UInt64(fields[6]))
        }
    }

    /// How many requests wait in the kernel for lock `index`.
    func waiters(_ index: UInt64) -> Int { entries().filter { $0.waiting && $0.covers(index) }.count }

    /// Whether some owner holds lock `index` (granted, not waiting).
    func isHeld(_ index: UInt64) -> Bool { entries().contains { !$0.waiting && $0.covers(index) } }

    /// How many read locks on `index` are held (granted, not waiting).
    func readers(_ index: UInt64) -> Int { entries().filter { !$0.waiting && !$0.write && $0.covers(index) }.count }

    /// Returns once `count` read locks (or more) on `index` are held.
    func awaitReaders(_ index: UInt64, count: Int, timeout: Duration = .seconds(20)) throws {
        let deadline = ContinuousClock.now + timeout
        while readers(index) < count {
            guard ContinuousClock.now < deadline else { throw Timeout(description: "fewer than \(count) readers hold lock \(index) of \(path): \(entries())") }
            usleep(1000)
        }
    }

    /// Returns once a request waits in the kernel for lock `index`.
    func awaitWaiter(_ index: UInt64, timeout: Duration = .seconds(10)) throws {
        try awaitWaiters(index, count: 1, timeout: timeout)
    }

    /// Returns once `count` requests (or more) wait in the kernel for lock `index`.
    func awaitWaiters(_ index: UInt64, count: Int, timeout: Duration = .seconds(10)) throws {
        let deadline = ContinuousClock.now + timeout
        while waiters(index) < count {
            guard ContinuousClock.now < deadline else { throw Timeout(description: "no request queued for lock \(index) of \(path): \(entries())") }
            usleep(1000)
        }
    }

    /// `awaitWaiter` for a task: it suspends between looks.
    func awaitWaiterAsync(_ index: UInt64, timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while waiters(index) == 0 {
            guard ContinuousClock.now < deadline else { throw Timeout(description: "no request queued for lock \(index) of \(path): \(entries())") }
            try await Task.sleep(nanoseconds: 1_000_000)
        }
    }
}
