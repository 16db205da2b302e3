// What a module that imports Locksfile sees: this must compile (type-checked by `check`).
import Locksfile

func use() throws {
    let locks = try LocksFile(path: "/tmp/surface.lock", scope: .process, create: true, mode: 0o600)
    let mode: LockMode = .write
    let scope: Scope = locks.scope
    _ = (locks.path, scope, locks.isWritable, LocksFile.maxIndex, LocksFile.asyncWaiterThreads)
    try locks.acquire(mode, 5)
    try locks.acquire(.read, 1..<3)
    try locks.acquire(.read, 1...3)
    try locks.acquire(.read, 10...)
    _ = try locks.tryAcquire(.write, 6) && locks.tryAcquire(.write, 7..<8) && locks.tryAcquire(.write, 8...9)
    _ = try locks.tryAcquire(.write, 20...)
    _ = try locks.acquire(.write, 11, timeout: .seconds(1))
    _ = try locks.acquire(.write, 11..<12, timeout: .seconds(1))
    _ = try locks.acquire(.write, 11...12, timeout: .seconds(1))
    _ = try locks.acquire(.write, 11..., timeout: .seconds(1))
    let answer: Int = try locks.withLock(.read, 20) { 42 }
    _ = answer
    try locks.withLock(.read, 20..<22) {}
    try locks.withLock(.read, 20...22) {}
    try locks.withLock(.read, 20...) {}
    try locks.release(5)
    try locks.release(1..<3)
    try locks.release(1...3)
    try locks.release(10...)
    try locks.releaseAll()
    let held: [HeldRange] = try locks.held()
    let holders: [Holder] = try locks.holders(0...)
    _ = (try locks.holders(1), try locks.holders(1..<2), try locks.holders(1...2))
    _ = (held.first?.start, held.first?.count, held.first?.mode)
    _ = (holders.first?.kind == LockClass.openFile, holders.first?.pid, holders.first?.mode)
    _ = (try locks.modeOf(3), try locks.isStale())
    do {
        try locks.acquire(.read, 5..<5)
    } catch LocksFileError.InvalidRange(let detail) {
        print(detail)
    } catch let error as LocksFileError {
        print(error.detail, error.localizedDescription)
    }
    try locks.close()
}

/// Fair handles, and names wherever an index goes.
func fairAndNamed() throws {
    let locks = try LocksFile(path: "/tmp/surface.lock", scope: .openFile, create: true, mode: 0o644, fair: true)
    let fair: Bool = locks.isFair
    let index: UInt64 = LocksFile.indexOf("jobs")
    _ = (fair, index, try LocksFile(path: "/tmp/surface.lock", fair: true))
    try locks.acquire(.write, "jobs")
    _ = try locks.tryAcquire(.read, "jobs")
    _ = try locks.acquire(.read, "jobs", timeout: .seconds(1))
    let answer: Int = try locks.withLock(.write, "jobs") { 42 }
    _ = answer
    let mode: LockMode? = try locks.modeOf("jobs")
    let holders: [Holder] = try locks.holders("jobs")
    _ = (mode, holders)
    try locks.release("jobs")
}

/// Everything a task may share is Sendable.
func sendable() {
    func check<T: Sendable>(_: T.Type) {}
    check(LocksFile.self)
    check(LockMode.self)
    check(Scope.self)
    check(LockClass.self)
    check(HeldRange.self)
    check(Holder.self)
    check(LocksFileError.self)
}

/// Every acquire has an async form, and so has withLock.
func useAsync(locks: LocksFile) async throws {
    try await locks.acquire(.write, 12)
    try await locks.acquire(.write, 12..<13)
    try await locks.acquire(.write, 12...13)
    try await locks.acquire(.write, 12...)
    let got: Bool = try await locks.acquire(.write, 12, timeout: .milliseconds(10))
    _ = got
    _ = try await locks.acquire(.write, 12..<13, timeout: .milliseconds(10))
    _ = try await locks.acquire(.write, 12...13, timeout: .milliseconds(10))
    _ = try await locks.acquire(.write, 12..., timeout: .milliseconds(10))
    let answer: Int = try await locks.withLock(.write, 14) { 42 }
    _ = answer
    try await locks.withLock(.write, 14..<15) { try await Task.sleep(for: .milliseconds(1)) }
    try await locks.withLock(.write, 14...15) {}
    try await locks.withLock(.write, 14...) {}
    try await locks.acquire(.write, "jobs")
    _ = try await locks.acquire(.write, "jobs", timeout: .milliseconds(10))
    let named: Int = try await locks.withLock(.write, "jobs") { 42 }
    _ = named
    try await locks.withLock(.read, "jobs") { try await Task.sleep(for: .milliseconds(1)) }
}
