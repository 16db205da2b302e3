// `cargo make bench-swift`: the Swift API against raw fcntl called from Swift via Glibc, in the same
// run.
//
// 1. acquire+release of one lock, uncontended, against a raw fcntl(F_OFD_SETLK) pair, and against
//    the direct path called as C from Swift (the floor of any Swift layer: the core and its C entry
//    points, no Swift of ours). Batches take turns, each round in a rotated order, so drift on the
//    machine affects every row alike; the median batch counts. Wall time, and the thread's CPU time
//    (user + system), which leaves out the time the thread waited for a core on a loaded machine.
// 2. hand-off latency between two processes: from the holder's release to the waiter's return, for
//    a waiter blocked in `acquire` (blocking, timed, async) and in a raw F_OFD_SETLKW; rounds
//    interleaved across the waiters, each release once the waiter is queued in the kernel
//    (/proc/locks); the holder on one CPU and the waiters on another (util-linux `taskset`).
//
// `Bench count KIND N` runs N pairs of one kind, for `scripts/swift-instructions` (callgrind).
import Foundation
import Glibc
@_spi(Bench) import Locksfile  // the direct path's token, for the floor row
import LocksfileFFI  // the direct path's C functions (a module of the package, not of its API)

let batches = 15
let batchSeconds = 0.1
let handoffRounds = 200
let handoffWarmupRounds = 20

func ofd(_ fd: Int32, _ type: Int32, _ index: Int, wait: Bool = false) {
    var request = flock()
    request.l_type = Int16(type)
    request.l_whence = Int16(SEEK_SET)
    request.l_start = index
    request.l_len = 1
    precondition(fcntl(fd, wait ? 38 /* F_OFD_SETLKW */ : 37 /* F_OFD_SETLK */, &request) == 0, "raw fcntl failed")
}

func seconds(_ clock: clockid_t) -> Double {
    var now = timespec()
    clock_gettime(clock, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

func monotonicNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

func calibrate(_ pair: () throws -> Void) rethrows -> Int {
    var calls = 64
    while true {
        let began = seconds(CLOCK_THREAD_CPUTIME_ID)
        for _ in 0..<calls { try pair() }
        let took = seconds(CLOCK_THREAD_CPUTIME_ID) - began
        if took > batchSeconds / 4 { return max(1, Int(Double(calls) * batchSeconds / took)) }
        calls *= 4
    }
}

func padded(_ text: String, _ width: Int) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }

// MARK: Hand-off: the waiting process

/// `Bench handoff-waiter VARIANT PATH`: for each round, waits for "go" on stdin (the holder has
/// lock 0 again), says "ready", waits for lock 0, and writes the monotonic time it got it.
func handoffWaiter(_ variant: String, _ path: String) throws -> Never {
    setvbuf(stdout, nil, _IOLBF, 0)
    let locks = try LocksFile(path: path)
    let raw = open(path, O_RDWR)
    while let line = readLine(), line == "go" {
        print("ready")
        switch variant {
        case "raw": ofd(raw, Int32(F_WRLCK), 0, wait: true)
        case "blocking": try locks.acquire(.write, 0)
        case "timed":
            let got = try locks.acquire(.write, 0, timeout: .seconds(30))
            precondition(got)
        case "async":
            try blockOn { try await locks.acquire(.write, 0) }
        default: fatalError("unknown variant \(variant)")
        }
        let got = monotonicNanos()
        if variant == "raw" { ofd(raw, Int32(F_UNLCK), 0) } else { try locks.release(0) }
        print(got)
    }
    exit(0)
}

/// Runs an async operation to its end from a plain thread.
func blockOn(_ operation: @escaping @Sendable () async throws -> Void) throws {
    final class Box: @unchecked Sendable { var error: Error? }
    let (box, done) = (Box(), DispatchSemaphore(value: 0))
    Task {
        do { try await operation() } catch { box.error = error }
        done.signal()
    }
    done.wait()
    if let error = box.error { throw error }
}

if CommandLine.arguments.count == 4, CommandLine.arguments[1] == "handoff-waiter" {
    try handoffWaiter(CommandLine.arguments[2], CommandLine.arguments[3])
}

// MARK: Hand-off: the holder

/// Runs util-linux `taskset` with `arguments`: its output.
func taskset(_ arguments: String...) -> String {
    let process = Process()
    let output = Pipe()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
    process.arguments = arguments
    process.standardOutput = output
    try! process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    precondition(process.terminationStatus == 0, "taskset \(arguments): \(text)")
    return text
}

/// The CPUs the main thread may run on, as taskset lists them ("0,1" or "0-1").
func affinityList() -> String {
    taskset("-p", "-c", String(getpid())).split(separator: ":").last!.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The CPUs the main thread may run on.
func allowedCPUs() -> [Int] {
    affinityList().split(separator: ",").flatMap { part -> [Int] in
        let bounds = part.split(separator: "-").map { Int($0)! }
        return Array(bounds.first!...bounds.last!)
    }
}


/// A waiter process and the holder's side of its lock file.
final class Waiter {
    let label: String
    let process = Process()
    let input = Pipe()
    let output = Pipe()
    let holder: Int32
    let inode: UInt64
    var latencies: [Double] = []
    private var buffer: [UInt8] = []

    init(_ variant: String, _ label: String, _ path: String) throws {
        self.label = label
        holder = open(path, O_RDWR | O_CREAT, 0o644)
        var status = stat()
        precondition(fstat(holder, &status) == 0)
        inode = UInt64(status.st_ino)
        ofd(holder, Int32(F_WRLCK), 0)
        // Pinned from its first instruction, so every thread it makes inherits the CPU.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
        let bench = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        process.arguments = ["-c", String(waiterCPU), bench, "handoff-waiter", variant, path]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    func send(_ line: String) { input.fileHandleForWriting.write(Data((line + "\n").utf8)) }

    func line() -> String {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let text = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return text
            }
            let chunk = output.fileHandleForReading.availableData
            precondition(!chunk.isEmpty, "\(label): the waiter ended")
            buffer += chunk
        }
    }

    /// Whether a request waits in the kernel's queue for this file (/proc/locks: `->`, this inode).
    func queued() -> Bool {
        let table = (try? String(contentsOfFile: "/proc/locks", encoding: .utf8)) ?? ""
        return table.split(separator: "\n").contains { line in
            let words = line.split(separator: " ")
            return words.count > 6 && words[1] == "->" && words[6].split(separator: ":").last.flatMap { UInt64($0) } == inode
        }
    }

    /// One hand-off: the waiter waits (queued in the kernel), the holder releases, the waiter
    /// returns; the holder takes the lock back once the waiter has let go.
    func round(record: Bool) {
        send("go")
        precondition(line() == "ready")
        let deadline = seconds(CLOCK_MONOTONIC) + 5
        while !queued() {
            precondition(seconds(CLOCK_MONOTONIC) < deadline, "\(label): the waiter never queued")
            usleep(200)
        }
        let released = monotonicNanos()
        ofd(holder, Int32(F_UNLCK), 0)
        let got = UInt64(line())!
        if record { latencies.append(Double(Int64(bitPattern: got &- released)) / 1000) }
        ofd(holder, Int32(F_WRLCK), 0, wait: true)
    }

    func finish() {
        input.fileHandleForWriting.closeFile()
        process.waitUntilExit()
        close(holder)
    }
}

// MARK: Uncontended pairs

let dir = FileManager.default.temporaryDirectory.appendingPathComponent("locksfile-swift-bench-\(getpid())")
try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
let rawFd = open(dir.appendingPathComponent("raw.lock").path, O_RDWR | O_CREAT, 0o644)
let locks = try LocksFile(path: dir.appendingPathComponent("swift.lock").path)
let token = locks.token

let pairs: [(String, String, () throws -> Void)] = [
    ("raw", "raw fcntl(F_OFD_SETLK) pair (baseline)", { ofd(rawFd, Int32(F_WRLCK), 5); ofd(rawFd, Int32(F_UNLCK), 5) }),
    ("direct", "direct path as C calls (no Swift layer)", {
        precondition(locksfile_fast_acquire(token, 5, 1, LOCKSFILE_WRITE) == LOCKSFILE_DONE)
        precondition(locksfile_fast_release(token, 5, 1, 0) == LOCKSFILE_DONE)
    }),
    ("tryAcquire", "LocksFile.tryAcquire + release", { _ = try locks.tryAcquire(.write, 5); try locks.release(5) }),
    ("acquire", "LocksFile.acquire + release", { try locks.acquire(.write, 5); try locks.release(5) }),
    ("withLock", "withLock(.write, 5) {}", { try locks.withLock(.write, 5) {} }),
]

if CommandLine.arguments.count == 4, CommandLine.arguments[1] == "count", let calls = Int(CommandLine.arguments[3]) {
    guard let (_, _, pair) = pairs.first(where: { $0.0 == CommandLine.arguments[2] }) else {
        fatalError("kinds: \(pairs.map(\.0))")
    }
    for _ in 0..<calls { try pair() }
    try locks.close()
    try? FileManager.default.removeItem(at: dir)
    exit(0)
}

for (_, _, pair) in pairs { for _ in 0..<20_000 { try pair() } } // warm-up
let sizes = try pairs.map { try calibrate($0.2) }
var wall = Array(repeating: [Double](), count: pairs.count)
var cpu = Array(repeating: [Double](), count: pairs.count)
for batch in 0..<batches {
    for turn in 0..<pairs.count {
        let n = (batch + turn) % pairs.count
        let (began, beganCPU) = (seconds(CLOCK_MONOTONIC), seconds(CLOCK_THREAD_CPUTIME_ID))
        for _ in 0..<sizes[n] { try pairs[n].2() }
        wall[n].append((seconds(CLOCK_MONOTONIC) - began) / Double(sizes[n]) * 1e6)
        cpu[n].append((seconds(CLOCK_THREAD_CPUTIME_ID) - beganCPU) / Double(sizes[n]) * 1e6)
    }
}
let wallMedians = wall.map { $0.sorted()[batches / 2] }
let cpuMedians = cpu.map { $0.sorted()[batches / 2] }
print("acquire+release of one lock, uncontended (Swift; median of \(batches) interleaved batches)")
print("\(padded("", 42)) wall µs/pair  vs raw   CPU µs/pair  vs raw")
for (n, (_, name, _)) in pairs.enumerated() {
    print("\(padded(name, 42)) \(String(format: "%12.3f %6.2fx %13.3f %6.2fx", wallMedians[n], wallMedians[n] / wallMedians[0], cpuMedians[n], cpuMedians[n] / cpuMedians[0]))")
}
try locks.close()

// MARK: Hand-off latency

// The holder on one CPU, every waiter on another: each hand-off then wakes a waiter on the other
// CPU. Left to the scheduler, some waiters settle on the holder's CPU and others not, and the two
// cases differ by tens of µs on a small machine, far more than the waiters do.
let cpus = allowedCPUs()
let (holderCPU, waiterCPU) = (cpus.first!, cpus.last!)
print()
print("hand-off latency between two processes (\(handoffRounds) rounds each, interleaved, after \(handoffWarmupRounds); "
    + "holder on CPU \(holderCPU), waiters on CPU \(waiterCPU); µs from release to the waiter's return)")
print("\(padded("waiter", 42))     median        p90    vs raw")
let waiters = try [
    ("raw", "raw F_OFD_SETLKW"),
    ("blocking", "LocksFile.acquire (blocking)"),
    ("timed", "LocksFile.acquire(timeout:) (kernel wait)"),
    ("async", "await LocksFile.acquire (waiter pool)"),
].map { try Waiter($0.0, $0.1, dir.appendingPathComponent("handoff-\($0.0).lock").path) }
let cpusBefore = affinityList()
_ = taskset("-p", "-c", String(holderCPU), String(getpid()))  // this (the main) thread only
for round in 0..<handoffWarmupRounds + handoffRounds {
    for turn in 0..<waiters.count { waiters[(round + turn) % waiters.count].round(record: round >= handoffWarmupRounds) }
}
_ = taskset("-p", "-c", cpusBefore, String(getpid()))
var rawMedian = 0.0
for waiter in waiters {
    waiter.finish()
    let sorted = waiter.latencies.sorted()
    let (median, p90) = (sorted[sorted.count / 2], sorted[sorted.count * 9 / 10])
    if rawMedian == 0 { rawMedian = median }
    print("\(padded(waiter.label, 42)) \(String(format: "%10.1f %10.1f %8.2fx", median, p90, median / rawMedian))")
}
try? FileManager.default.removeItem(at: dir)

// What was measured, for the report (scripts/bench-report documents the schema; cargo make
// bench-swift sets the path and adds the date, machine and command).
if let out = ProcessInfo.processInfo.environment["LOCKSFILE_BENCH_JSON"] {
    let kinds = ["raw": "floor", "direct": "contrast"]
    let entries: [[String: Any]] = pairs.enumerated().map { n, pair in
        ["name": pair.0, "kind": kinds[pair.0] ?? "api", "median_ns": wallMedians[n] * 1000, "samples_ns": wall[n].map { $0 * 1000 }]
    }
    let pairsResult: [String: Any] = [
        "what": "acquire+release of one lock, uncontended (wall time)", "batches": batches, "floor": pairs[0].0, "entries": entries,
    ]
    let handoffEntries: [[String: Any]] = waiters.enumerated().map { n, waiter in
        let sorted = waiter.latencies.sorted()
        return ["name": waiter.label, "kind": n == 0 ? "floor" : "api", "median_us": sorted[sorted.count / 2], "samples_us": waiter.latencies]
    }
    let handoffResult: [String: Any] = [
        "what": "release to the waiter's return", "rounds": handoffRounds, "floor": waiters[0].label, "entries": handoffEntries,
    ]
    let result: [String: Any] = ["schema": 1, "language": "swift", "runtime": "Swift", "pairs": pairsResult, "handoff": handoffResult]
    try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: out))
    print("results: \(out)")
}
