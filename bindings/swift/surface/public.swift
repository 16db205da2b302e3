// What a module that imports Locksfile sees: this must compile (type-checked by `check`).
import Locksfile

func use() throws {
    let locks = try LocksFile(path: "/tmp/surface.lock", scope: .process, create: true, mode: 0o600)
    let mode: LockMode = .write
    let scope: Scope = locks.scope
    _ = (locks.path, scope, locks.isWritable, LocksFile.maxIndex)
    try locks.acquire(mode, 5)
    try locks.acquire(.read, 1..<3)
    try locks.acquire(.read, 1...3)
    try locks.acquire(.read, 10...)
    _ = try locks.tryAcquire(.write, 6) && locks.tryAcquire(.write, 7..<8) && locks.tryAcquire(.write, 8...9)
    _ = try locks.acquire(.write, 11, timeout: .seconds(1))
    let answer: Int = try locks.withLock(.read, 20) { 42 }
    _ = answer
    try locks.release(5)
    try locks.release(1..<3)
    try locks.release(10...)
    try locks.releaseAll()
    let held: [HeldRange] = try locks.held()
    let holders: [Holder] = try locks.holders(0...)
    _ = (held.first?.count, holders.first?.kind == LockClass.openFile, holders.first?.pid)
    _ = (try locks.modeOf(3), try locks.isStale())
    do {
        try locks.acquire(.read, 5..<5)
    } catch LocksFileError.InvalidRange(let detail) {
        print(detail)
    }
    let shared: any Sendable = locks
    _ = shared
    try locks.close()
}

func useAsync(locks: LocksFile) async throws {
    _ = try await locks.acquire(.write, 12..<13, timeout: .milliseconds(10))
    _ = try await locks.acquire(.write, 12..<13)
}
