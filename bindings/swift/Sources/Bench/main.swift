// `cargo make bench-swift`: acquire+release of one lock through the Swift API against raw
// fcntl(F_OFD_SETLK) called from Swift via Glibc, in the same run; batches take turns, so drift on
// the machine affects both alike; the median batch counts.
import Foundation
import Glibc
import Locksfile
import LocksfileFFI

let batches = 9
let batchSeconds = 0.1

func ofd(_ fd: Int32, _ type: Int32, _ index: Int) {
    var request = flock()
    request.l_type = Int16(type)
    request.l_whence = Int16(SEEK_SET)
    request.l_start = index
    request.l_len = 1
    precondition(fcntl(fd, 37 /* F_OFD_SETLK */, &request) == 0, "raw fcntl failed")
}

func calibrate(_ pair: () throws -> Void) rethrows -> Int {
    var calls = 64
    while true {
        let began = Date()
        for _ in 0..<calls { try pair() }
        let took = Date().timeIntervalSince(began)
        if took > batchSeconds / 4 { return max(1, Int(Double(calls) * batchSeconds / took)) }
        calls *= 4
    }
}

let dir = FileManager.default.temporaryDirectory.appendingPathComponent("locksfile-swift-bench-\(getpid())")
try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
let rawFd = open(dir.appendingPathComponent("raw.lock").path, O_RDWR | O_CREAT, 0o644)
let locks = try LocksFile(path: dir.appendingPathComponent("swift.lock").path)

// `Bench count KIND N`: N pairs of one kind and nothing else, for counting instructions under
// `valgrind --tool=callgrind` (the difference of two N, divided, is the cost of one pair).
if CommandLine.arguments.count == 4, CommandLine.arguments[1] == "count", let calls = Int(CommandLine.arguments[3]) {
    let token = locks.token
    let kinds: [String: () throws -> Void] = [
        "raw": { ofd(rawFd, Int32(F_WRLCK), 5); ofd(rawFd, Int32(F_UNLCK), 5) },
        // The direct path called as C from here, the token fetched once: the floor of any Swift layer.
        "direct": {
            precondition(locksfile_fast_acquire(token, 5, 1, LOCKSFILE_WRITE) == LOCKSFILE_DONE)
            precondition(locksfile_fast_release(token, 5, 1, 0) == LOCKSFILE_DONE)
        },
        "tryAcquire": { _ = try locks.tryAcquire(.write, 5); try locks.release(5) },
        "acquire": { try locks.acquire(.write, 5); try locks.release(5) },
        "withLock": { try locks.withLock(.write, 5) {} },
    ]
    guard let pair = kinds[CommandLine.arguments[2]] else { fatalError("kinds: \(kinds.keys.sorted())") }
    for _ in 0..<calls { try pair() }
    try locks.close()
    try? FileManager.default.removeItem(at: dir)
    exit(0)
}

let pairs: [(String, () throws -> Void)] = [
    ("raw fcntl(F_OFD_SETLK) pair (baseline)", { ofd(rawFd, Int32(F_WRLCK), 5); ofd(rawFd, Int32(F_UNLCK), 5) }),
    ("LocksFile.tryAcquire + release", { _ = try locks.tryAcquire(.write, 5); try locks.release(5) }),
    ("LocksFile.acquire + release", { try locks.acquire(.write, 5); try locks.release(5) }),
    ("withLock(.write, 5) {}", { try locks.withLock(.write, 5) {} }),
]
for (_, pair) in pairs { for _ in 0..<20_000 { try pair() } } // warm-up
let sizes = try pairs.map { try calibrate($0.1) }
var times = Array(repeating: [Double](), count: pairs.count)
for _ in 0..<batches {
    for (n, (_, pair)) in pairs.enumerated() {
        let began = Date()
        for _ in 0..<sizes[n] { try pair() }
        times[n].append(Date().timeIntervalSince(began) / Double(sizes[n]) * 1e6)
    }
}
let medians = times.map { $0.sorted()[batches / 2] }
print("acquire+release of one lock, uncontended (Swift; median of \(batches) interleaved batches)")
print("\("".padding(toLength: 42, withPad: " ", startingAt: 0)) µs/pair  vs raw")
for (n, (name, _)) in pairs.enumerated() {
    print("\(name.padding(toLength: 42, withPad: " ", startingAt: 0)) \(String(format: "%7.2f", medians[n])) \(String(format: "%6.2fx", medians[n] / medians[0]))")
}
try locks.close()
try? FileManager.default.removeItem(at: dir)
