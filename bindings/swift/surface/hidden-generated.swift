// A module that imports the package's generated module by name (SwiftPM puts every module of a
// build in one directory, so the import itself works) still sees nothing in it: the package's
// build gives its declarations `package` access. Every line marked `hidden` must fail.
import Locksfile
import LocksfileGenerated

func use(path: String) throws {
    _ = try LocksFileHandle(path: path, options: OpenOptions(scope: .openFile, create: true, mode: 0o644))  // hidden
    _ = LocksfileGenerated.LocksFileHandle.self  // hidden
    _ = LocksfileGenerated.LockMode.write  // hidden
    _ = LocksfileGenerated.maxIndex()  // hidden
    _ = try LocksfileGenerated.checkRange(start: "1", count: nil)  // hidden
    _ = LocksfileGenerated.indexOf(name: "jobs")  // hidden
    _ = LocksfileGenerated.FfiConverterTypeLockMode.self  // hidden
    let error: Error = LocksfileGenerated.LocksFileError.Closed(path: path, detail: "")  // hidden
    _ = error
}
