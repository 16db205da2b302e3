// A Kotlin user of locksfile: everything comes from `dev.locksfile`.
import dev.locksfile.LockMode
import dev.locksfile.LocksFile
import dev.locksfile.LocksFileException

/** `Main PATH`: holds write locks 1, 2 and 3 of PATH until a line arrives on stdin. */
fun main(args: Array<String>) {
    LocksFile.open(args[0]).use { locks ->
        try {
            locks.acquire(5..4, LockMode.WRITE)
        } catch (e: LocksFileException.InvalidRange) {
            println("error: ${e.detail}")
        }
        locks.withWriteLock(1..3) {
            println("holding write 1..3 in pid ${ProcessHandle.current().pid()}")
            readlnOrNull() // The checker looks from another process, then lets this one go on.
        }
        println("released: ${locks.held()}")
    }
}
