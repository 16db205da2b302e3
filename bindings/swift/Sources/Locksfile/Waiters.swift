import Foundation

// Where `async` acquires wait. A kernel lock wait blocks the thread that makes it, and the
// cooperative thread pool that runs tasks must never block, so the waits run on threads of their
// own: a pool shared by the whole process, of at most `WaiterPool.limit` threads, started as they
// are needed (none before the first wait that has to queue) and parked when idle. An `async` acquire
// thus never starts a thread of its own: a thousand tasks waiting for locks use eight threads.
//
// Each turn of a request is one kernel wait of at most `AsyncWait.slice` (the core's timed wait:
// queued in the kernel like a blocking one, cut off by its timer), so a thread finds out about a
// cancelled task within a slice, and requests beyond the pool's size take turns instead of
// waiting behind one another's locks: a request never waits for a thread that waits for a lock
// this process will only release after that request got its own (that would deadlock a pool of
// fixed size). Closing a handle ends its waits at once (the core interrupts them), whatever the
// slice. A deadline is an instant of the monotonic `ContinuousClock`.

/// The threads that wait for the `async` acquires of every handle of the process.
final class WaiterPool: @unchecked Sendable {  // every field is guarded by `condition`
    static let shared = WaiterPool(limit: 8)

    /// The most threads the pool starts.
    let limit: Int
    private let condition = NSCondition()
    /// Requests waiting for a turn, oldest first (`head` is the next).
    private var queue: [AsyncWait] = []
    private var head = 0
    private var threads = 0
    private var idle = 0

    init(limit: Int) {
        self.limit = limit
    }

    /// Queues a request; a thread of the pool takes it up (starting one when none is idle and the
    /// pool is not full).
    func submit(_ wait: AsyncWait) {
        condition.lock()
        defer { condition.unlock() }
        queue.append(wait)
        if queue.count - head > idle && threads < limit {
            threads += 1
            let thread = Thread { [self] in run() }
            thread.name = "locksfile-waiter"
            thread.start()
        }
        condition.signal()
    }

    /// The number of threads started so far (for the tests).
    var started: Int {
        condition.lock()
        defer { condition.unlock() }
        return threads
    }

    private func run() {
        condition.lock()
        while true {
            while head == queue.count {
                idle += 1
                condition.wait()
                idle -= 1
            }
            let wait = queue[head]
            head += 1
            if head == queue.count || head >= 64 && head * 2 >= queue.count {
                queue.removeFirst(head)
                head = 0
            }
            condition.unlock()
            let over = wait.turn()
            condition.lock()
            if !over { queue.append(wait) }  // behind the others: they take turns
        }
    }
}

/// One `async` acquire between its first attempt and its end: it holds the continuation the task
/// awaits, which exactly one turn resumes.
final class AsyncWait: @unchecked Sendable {  // `continuation` is set before `submit` and used by one thread at a time; `cancelled` is guarded by `lock`
    /// The longest one turn waits in the kernel.
    static let slice: Duration = .milliseconds(50)

    private let locks: LocksFile
    private let span: FastSpan
    private let mode: LockMode
    private let deadline: ContinuousClock.Instant?
    private var continuation: CheckedContinuation<Bool, Error>?
    private let lock = NSLock()
    private var cancelled = false

    init(_ locks: LocksFile, _ span: FastSpan, _ mode: LockMode, deadline: ContinuousClock.Instant?) {
        self.locks = locks
        self.span = span
        self.mode = mode
        self.deadline = deadline
    }

    func start(_ continuation: CheckedContinuation<Bool, Error>) {
        self.continuation = continuation
        WaiterPool.shared.submit(self)
    }

    /// From the task's cancellation handler (any thread): the next turn ends the wait.
    func cancel() {
        lock.lock()
        cancelled = true
        lock.unlock()
    }

    private var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled
    }

    /// One turn, on a thread of the pool: true when the wait is over (and the task resumed).
    func turn() -> Bool {
        guard let continuation else { return true }
        if isCancelled { return finish(continuation, .failure(CancellationError())) }
        let left = deadline.map { max(.zero, $0 - ContinuousClock.now) }
        let wait = min(left ?? Self.slice, Self.slice)
        do {
            if try locks.fastAcquire(span, mode, timeout: wait.seconds) { return finish(continuation, .success(true)) }
        } catch {
            return finish(continuation, .failure(error))
        }
        if let left, left <= Self.slice { return finish(continuation, .success(false)) }  // the deadline passed
        if isCancelled { return finish(continuation, .failure(CancellationError())) }
        return false
    }

    private func finish(_ continuation: CheckedContinuation<Bool, Error>, _ result: Result<Bool, Error>) -> Bool {
        self.continuation = nil
        continuation.resume(with: result)
        return true
    }
}
