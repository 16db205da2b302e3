@testable import Locksfile
@testable import LocksfileGenerated

// The generated API under the layer, for the tests that compare with it or look under the layer.
// Only this file imports the generated module: its types have the layer's names (LockMode,
// LocksFileError, ...), so the other files see the layer's alone. Errors come out as the layer's.
extension Locksfile.LocksFile {
    /// The generated object (to watch its lifetime).
    var generatedObject: AnyObject { handle }

    func generatedAcquire(start: UInt64, count: UInt64?, _ mode: Locksfile.LockMode) throws {
        try converting { try handle.acquire(start: start, count: count, mode: mode.generated) }
    }

    func generatedAcquire(start: UInt64, count: UInt64?, _ mode: Locksfile.LockMode, timeoutSeconds: Double) throws -> Bool {
        try converting { try handle.acquireTimeout(start: start, count: count, mode: mode.generated, timeoutSeconds: timeoutSeconds) }
    }

    func generatedRelease(start: UInt64, count: UInt64?) throws {
        try converting { try handle.release(start: start, count: count) }
    }

    func generatedFastLaneToken() -> UInt64 { handle.fastLaneToken() }

    func generatedRaiseFastLaneError() throws {
        try converting { try handle.raiseFastLaneError() }
    }
}
