// The Swift worker of the project's tests: holds locks through this library as commanded on stdin,
// one reply line per command on stdout. The protocol is in tests/README.md (the Rust, Python and
// Kotlin workers speak it too).
import Foundation
import Locksfile

#if canImport(Glibc)
import Glibc
#endif

setvbuf(stdout, nil, _IOLBF, 0)

struct ProtocolError: Error, CustomStringConvertible {
    let description: String
}

func number(_ text: some StringProtocol) throws -> UInt64 {
    guard let value = UInt64(text) else { throw ProtocolError(description: "bad number \(text)") }
    return value
}

/// A protocol RANGE as the library takes it: `name:NAME` goes to the library's name forms.
enum Indices {
    case index(UInt64)
    case range(Range<UInt64>)
    case from(PartialRangeFrom<UInt64>)
    case name(String)

    init(_ text: String) throws {
        if text.hasPrefix("name:") { self = .name(String(text.dropFirst("name:".count))); return }
        let (start, count) = try parse(text)
        if !text.contains("..") { self = .index(start) } else if let count { self = .range(start..<start + count) } else { self = .from(start...) }
    }
}

extension LocksFile {
    func acquire(_ mode: LockMode, _ indices: Indices) throws {
        switch indices {
        case .index(let index): try acquire(mode, index)
        case .range(let range): try acquire(mode, range)
        case .from(let range): try acquire(mode, range)
        case .name(let name): try acquire(mode, name)
        }
    }

    func tryAcquire(_ mode: LockMode, _ indices: Indices) throws -> Bool {
        switch indices {
        case .index(let index): return try tryAcquire(mode, index)
        case .range(let range): return try tryAcquire(mode, range)
        case .from(let range): return try tryAcquire(mode, range)
        case .name(let name): return try tryAcquire(mode, name)
        }
    }

    func acquire(_ mode: LockMode, _ indices: Indices, timeout: Duration) throws -> Bool {
        switch indices {
        case .index(let index): return try acquire(mode, index, timeout: timeout)
        case .range(let range): return try acquire(mode, range, timeout: timeout)
        case .from(let range): return try acquire(mode, range, timeout: timeout)
        case .name(let name): return try acquire(mode, name, timeout: timeout)
        }
    }

    func release(_ indices: Indices) throws {
        switch indices {
        case .index(let index): try release(index)
        case .range(let range): try release(range)
        case .from(let range): try release(range)
        case .name(let name): try release(name)
        }
    }
}

/// `3`, `1..4` (1, 2, 3) or `5..` (from 5 on), as start and count (nil: open-ended).
func parse(_ text: String) throws -> (UInt64, UInt64?) {
    guard let dots = text.range(of: "..") else { return (try number(text), 1) }
    let start = try number(text[..<dots.lowerBound])
    let end = text[dots.upperBound...]
    if end.isEmpty { return (start, nil) }
    let last = try number(end)
    guard last >= start else { throw ProtocolError(description: "bad range \(text)") }
    return (start, last - start)
}

/// The counters of `count` and `audit`: numbered (a name's index, 2^61 or more, has no slot in a
/// data file: 16 bytes a counter would put it past the largest file offset).
func bounded(_ text: String) throws -> Range<UInt64> {
    if text.hasPrefix("name:") { throw ProtocolError(description: "counters are numbered: \(text) has no slot in a data file") }
    let (start, count) = try parse(text)
    guard let count else { throw ProtocolError(description: "needs a bounded range, not \(text)") }
    return start..<start + count
}

func describe(_ start: UInt64, _ count: UInt64?) -> String {
    guard let count else { return "\(start).." }
    return count == 1 ? "\(start)" : "\(start)..\(start + count)"
}

/// A data file of little-endian u64 slots (layout in tests/README.md), read and written in place.
final class DataFile {
    let fd: Int32

    init(_ path: String, write: Bool) throws {
        fd = open(path, write ? O_RDWR : O_RDONLY)
        guard fd >= 0 else { throw ProtocolError(description: "cannot open \(path): errno \(errno)") }
    }

    deinit { close(fd) }

    func read(_ offset: UInt64) -> UInt64 {
        var value: UInt64 = 0
        let got = withUnsafeMutableBytes(of: &value) { pread(fd, $0.baseAddress, 8, off_t(offset)) }
        return got == 8 ? UInt64(littleEndian: value) : 0
    }

    func write(_ offset: UInt64, _ value: UInt64) throws {
        var bytes = value.littleEndian
        let put = withUnsafeBytes(of: &bytes) { pwrite(fd, $0.baseAddress, 8, off_t(offset)) }
        guard put == 8 else { throw ProtocolError(description: "write failed: errno \(errno)") }
    }
}

/// `times` increments, round-robin over the counters, each under its index's write lock.
func count(_ file: LocksFile, _ data: DataFile, _ counters: Range<UInt64>, _ times: UInt64) throws -> String {
    for turn in 0..<times {
        let index = counters.lowerBound + turn % UInt64(counters.count)
        try file.acquire(.write, index)
        let value = data.read(index * 16) + 1
        try data.write(index * 16, value)
        sched_yield()  // widen the window in which a torn counter could be seen
        try data.write(index * 16 + 8, value)
        try file.release(index)
    }
    return "ok \(times)"
}

/// `times` looks at every counter of the range under one read lock: both copies must agree.
func audit(_ file: LocksFile, _ data: DataFile, _ counters: Range<UInt64>, _ times: UInt64) throws -> String {
    for _ in 0..<times {
        try file.acquire(.read, counters)
        let pairs = counters.map { ($0, data.read($0 * 16), data.read($0 * 16 + 8)) }
        try file.release(counters)
        if let (index, a, b) = pairs.first(where: { $0.1 != $0.2 }) { return "torn \(index) \(a) \(b)" }
    }
    return "ok \(times)"
}

/// The seed's hand-over-hand race: take the next track's lock, then let go of this one.
func race(_ file: LocksFile, _ data: DataFile, racer: UInt64, tracks: UInt64, laps: UInt64, log: String) throws -> String {
    let began = DispatchTime.now()
    var waits: UInt64 = 0
    var visits = ""
    func take(_ track: UInt64) throws -> UInt64 {
        if try !file.tryAcquire(.write, track) {
            waits += 1
            try file.acquire(.write, track)
        }
        let visit = data.read(track * 8) + 1
        try data.write(track * 8, visit)
        return visit
    }
    let total = tracks * laps
    visits += "0 \(try take(0))\n"
    for step in 1..<total {
        let (here, next) = ((step - 1) % tracks, step % tracks)
        let visit = try take(next)
        try file.release(here)
        visits += "\(next) \(visit)\n"
        try data.write((tracks + racer) * 8, step)
    }
    try file.releaseAll()
    try data.write((tracks + racer) * 8, total)
    try visits.write(toFile: log, atomically: false, encoding: .utf8)
    let millis = (DispatchTime.now().uptimeNanoseconds - began.uptimeNanoseconds) / 1_000_000
    return "ok \(total) \(waits) \(millis)"
}

/// `keep-reading`: a thread that keeps lock `index` read-held through a fair handle of its own,
/// taking it again as soon as it lets go, each hold as long as the seed says (tests/README.md).
final class KeepReading: @unchecked Sendable {  // `stopping` and `failure` are guarded by `lock`
    private let lock = NSLock()
    private var stopping = false
    private var failure: Error?
    private let ended = DispatchSemaphore(value: 0)

    /// Starts the thread; returns once it holds `index` the first time.
    init(path: String, index: UInt64, seed: UInt64, min: UInt64, max: UInt64) throws {
        guard min <= max, max - min < UInt64.max else { throw ProtocolError(description: "keep-reading needs MIN <= MAX") }
        let handle = try LocksFile(path: path, fair: true)
        try handle.acquire(.read, index)
        let thread = Thread { [self] in
            do {
                var state = seed
                while true {
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    let hold = min + (state >> 33) % (max - min + 1)  // milliseconds
                    Thread.sleep(forTimeInterval: Double(hold) / 1000)
                    try handle.release(index)
                    if isStopping { break }
                    try handle.acquire(.read, index)
                }
            } catch {
                lock.lock()
                failure = error
                lock.unlock()
            }
            ended.signal()
        }
        thread.name = "keep-reading"
        thread.start()
    }

    private var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    /// Stops the thread once it has let go; throws what ended it early, if anything did.
    func stop() throws {
        lock.lock()
        stopping = true
        lock.unlock()
        ended.wait()
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
    }
}

var file: LocksFile?
var reading: KeepReading?

func handle(_ words: [String]) throws -> String {
    switch words[0] {
    case "pid":
        return String(getpid())
    case "index-of":
        guard words.count == 2 else { throw ProtocolError(description: "index-of needs one NAME") }
        return String(LocksFile.indexOf(words[1]))
    case "open":
        guard words.count == 3 else { throw ProtocolError(description: "open needs PATH SCOPE") }
        // `open-file`, `process`, or either with `+fair`.
        let scope = words[2].hasSuffix("+fair") ? String(words[2].dropLast("+fair".count)) : words[2]
        file = try LocksFile(path: words[1], scope: scope == "process" ? .process : .openFile, fair: words[2].hasSuffix("+fair"))
        return "ok"
    case "stop-reading":
        defer { reading = nil }
        try reading?.stop()
        return "ok"
    case "close":
        defer { file = nil } // closed even when close reports an error
        try file?.close()
        return "ok"
    default:
        break
    }
    guard let file else { throw ProtocolError(description: "no file is open") }
    switch words[0] {
    case "keep-reading":
        guard words.count == 5 else { throw ProtocolError(description: "keep-reading needs INDEX SEED MIN MAX") }
        guard reading == nil else { throw ProtocolError(description: "already reading: stop-reading first") }
        reading = try KeepReading(path: file.path, index: try number(words[1]), seed: try number(words[2]),
                                  min: try number(words[3]), max: try number(words[4]))
        return "ok"
    case "acquire":
        let mode: LockMode = words[1] == "write" ? .write : .read
        let indices = try Indices(words[2])
        switch words[3] {
        case "block":
            try file.acquire(mode, indices)
            return "ok"
        case "try":
            return try file.tryAcquire(mode, indices) ? "ok" : "busy"
        case let wait where wait.hasPrefix("timeout="):
            let ms = try number(wait.dropFirst("timeout=".count))
            let began = ContinuousClock.now
            if try file.acquire(mode, indices, timeout: .milliseconds(ms)) { return "ok" }
            let waited = ContinuousClock.now - began
            return "timeout \(waited.components.seconds * 1000 + waited.components.attoseconds / 1_000_000_000_000_000)"
        default:
            throw ProtocolError(description: "bad wait \(words[3])")
        }
    case "release":
        try file.release(try Indices(words[1]))
        return "ok"
    case "release-all":
        try file.releaseAll()
        return "ok"
    case "held":
        return (["held"] + (try file.held()).map { "\(describe($0.start, $0.count)):\($0.mode == .write ? "write" : "read")" }).joined(separator: " ")
    case "count":
        return try count(file, try DataFile(words[1], write: true), try bounded(words[2]), try number(words[3]))
    case "audit":
        return try audit(file, try DataFile(words[1], write: false), try bounded(words[2]), try number(words[3]))
    case "race":
        return try race(file, try DataFile(words[1], write: true), racer: try number(words[2]),
                        tracks: try number(words[3]), laps: try number(words[4]), log: words[5])
    default:
        throw ProtocolError(description: "unknown command \(words.joined(separator: " "))")
    }
}

while let line = readLine() {
    let words = line.split(separator: " ").map(String.init)
    if words.isEmpty { continue }
    if words[0] == "quit" { break }
    do {
        print(try handle(words))
    } catch let error as LocksFileError {
        // The case's name is the kind every worker reports: `Deadlock(detail: ...)` -> Deadlock;
        // the message is the core's, the case's `detail`.
        let described = String(describing: error)
        print("err \(described.prefix { $0.isLetter || $0.isNumber }): \(error.detail)")
    } catch {
        print("err Protocol: \(error)")
    }
}
