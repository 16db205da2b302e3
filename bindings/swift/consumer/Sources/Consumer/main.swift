// A user's program: `Consumer PATH` takes write locks 3, 4, 5 and read lock 10 of PATH, says what it
// holds ("holding PID RANGES"), and lets them go when a line comes on stdin ("released").
import Locksfile
#if canImport(Glibc)
import Glibc
#endif

/// Takes the locks in async code: the acquires wait without blocking a thread.
func take(_ locks: LocksFile) async throws {
    try await locks.acquire(.write, 3..<6)
    guard try await locks.acquire(.read, 10, timeout: .seconds(30)) else {
        fatalError("lock 10 stayed busy for 30 s")
    }
}

let locks = try LocksFile(path: CommandLine.arguments[1])
try await take(locks)
let held = try locks.held().map { "\($0.start)+\($0.count ?? 0):\($0.mode)" }
print("holding \(getpid()) \(held.joined(separator: " "))")
fflush(nil)  // every stream: the line must reach the test while the program waits
_ = readLine()
try locks.close()
print("released")
