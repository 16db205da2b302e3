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

/// A protocol RANGE as the library takes it.
enum Indices {
    case index(UInt64)
    case range(Range<UInt64>)
    case from(PartialRangeFrom<UInt64>)

    init(_ text: String) throws {
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
        }
    }

    func tryAcquire(_ mode: LockMode, _ indices: Indices) throws -> Bool {
        switch indices {
        case .index(let index): return try tryAcquire(mode, index)
        case .range(let range): return try tryAcquire(mode, range)
        case .from(let range): return try tryAcquire(mode, range)
        }
    }

    func acquire(_ mode: LockMode, _ indices: Indices, timeout: Duration) throws -> Bool {
        switch indices {
        case .index(let index): return try acquire(mode, index, timeout: timeout)
        case .range(let range): return try acquire(mode, range, timeout: timeout)
        case .from(let range): return try acquire(mode, range, timeout: timeout)
        }
    }

    func release(_ indices: Indices) throws {
        switch indices {
        case .index(let index): try release(index)
        case .range(let range): try release(range)
        case .from(let range): try release(range)
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

func bounded(_ text: String) throws -> Range<UInt64> {
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

var file: LocksFile?

func handle(_ words: [String]) throws -> String {
    switch words[0] {
    case "pid":
        return String(getpid())
    case "open":
        file = try LocksFile(path: words[1], scope: words[2] == "process" ? .process : .openFile)
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
            let began = Date()
            if try file.acquire(mode, indices, timeout: .milliseconds(ms)) { return "ok" }
            return "timeout \(Int(Date().timeIntervalSince(began) * 1000))"
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
        print("err \(described.prefix { $0.isLetter || $0.isNumber }): \(detail(of: error) ?? described)")
    } catch {
        print("err Protocol: \(error)")
    }
}

/// The `detail` of a `LocksFileError` case (every case has one).
func detail(of error: LocksFileError) -> String? {
    guard let values = Mirror(reflecting: error).children.first?.value else { return nil }
    return Mirror(reflecting: values).children.first { $0.label == "detail" }?.value as? String
}
