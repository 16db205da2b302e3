// What a module that imports Locksfile must not see: every line marked `hidden` must fail to
// type-check (`check` compares the lines the compiler names with the marked ones).
import Locksfile

func use(locks: LocksFile) throws {
    try locks.acquire(start: 1, count: 1, mode: .write)  // hidden: the generated acquire
    _ = try locks.tryAcquire(start: 1, count: nil, mode: .write)  // hidden
    _ = try locks.acquireTimeout(start: 1, count: 1, mode: .write, timeoutSeconds: 1)  // hidden
    try locks.release(start: 1, count: 1)  // hidden
    _ = locks.fastLaneToken()  // hidden
    try locks.raiseFastLaneError()  // hidden
    try locks.closeFile()  // hidden: the idiomatic name is close()
    _ = locks.handle  // hidden: the generated object (internal)
    _ = locks.token  // hidden: the direct path's token (@_spi(Bench) only)
    _ = LocksFileHandle.self  // hidden: the generated class
    _ = OpenOptions.self  // hidden
    _ = try checkRange(start: "1", count: "1")  // hidden
    _ = indexOf(name: "jobs")  // hidden: the generated function (LocksFile.indexOf is the layer's)
    _ = LocksfileGenerated.LocksFileHandle.self  // hidden: the generated module is not imported
    _ = locksfile_fast_acquire(0, 1, 1, 0)  // hidden: the C declarations are not imported either
    _ = FastSpan(1)  // hidden: the layer's internals
    _ = WaiterPool.shared  // hidden
}
