// A worker process speaking the project's test protocol on stdin/stdout, one reply line per
// command: `open PATH open-file|process`, `acquire read|write RANGE block|try|timeout=MS`,
// `release RANGE`, `release-all`, `held`, `pid`, `quit`. RANGE is `3`, `1..4` or `5..`.
import Foundation
import Locksfile

setvbuf(stdout, nil, _IOLBF, 0)

func parse(_ text: String) -> (UInt64, UInt64?) {
    guard let dots = text.range(of: "..") else { return (UInt64(text)!, 1) }
    let start = UInt64(text[..<dots.lowerBound])!
    let end = text[dots.upperBound...]
    return end.isEmpty ? (start, nil) : (start, UInt64(end)! - start)
}

func describe(_ start: UInt64, _ count: UInt64?) -> String {
    guard let count else { return "\(start).." }
    return count == 1 ? "\(start)" : "\(start)..\(start + count)"
}

var file: LocksFile?

func handle(_ words: [String]) throws -> String {
    switch words[0] {
    case "pid":
        return String(getpid())
    case "open":
        file = try LocksFile(path: words[1], scope: words[2] == "process" ? .process : .openFile)
        return "ok"
    case "acquire":
        let mode: LockMode = words[1] == "write" ? .write : .read
        let (start, count) = parse(words[2])
        switch words[3] {
        case "block":
            try file!.acquire(start: start, count: count, mode: mode)
            return "ok"
        case "try":
            return try file!.tryAcquire(start: start, count: count, mode: mode) ? "ok" : "busy"
        default:
            let ms = Double(words[3].split(separator: "=")[1])!
            let began = Date()
            if try file!.acquireTimeout(start: start, count: count, mode: mode, timeout: ms / 1000) { return "ok" }
            return "timeout \(Int(Date().timeIntervalSince(began) * 1000))"
        }
    case "release":
        let (start, count) = parse(words[1])
        try file!.release(start: start, count: count)
        return "ok"
    case "release-all":
        try file!.releaseAll()
        return "ok"
    case "held":
        return (["held"] + (try file!.held()).map { "\(describe($0.start, $0.count)):\($0.mode == .write ? "write" : "read")" }).joined(separator: " ")
    default:
        return "err unknown command \(words[0])"
    }
}

while let line = readLine() {
    let words = line.split(separator: " ").map(String.init)
    if words.isEmpty { continue }
    if words[0] == "quit" { break }
    do {
        print(try handle(words))
    } catch let error as LocksFileError {
        print("err \(error)")
    } catch {
        print("err \(error)")
    }
}
