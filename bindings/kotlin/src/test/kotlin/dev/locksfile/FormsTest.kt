package dev.locksfile

import java.io.File
import java.nio.file.Files
import kotlin.test.assertEquals
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Test

/**
 * Every function that acquires, releases or guards locks takes an index (`Int`, `Long`) or a range
 * (`IntRange`, `LongRange`, and `LocksFile.range`/`rangeFrom` for Java); each form is checked from
 * another JVM, which finds exactly the expected locks busy while held and free after the release.
 */
class FormsTest {
    private val dir: File = Files.createTempDirectory("locksfile-forms").toFile()
    private val path = File(dir, "forms.lock")

    @AfterEach
    fun cleanUp() {
        dir.deleteRecursively()
    }

    /** One way to name locks: how each function takes it, and the indices it names. */
    private class Form(
        val name: String,
        val indices: LongRange,
        val acquire: (LocksFile, LockMode) -> Unit,
        val tryAcquire: (LocksFile, LockMode) -> Boolean,
        val timed: (LocksFile, LockMode) -> Boolean,
        val suspending: suspend (LocksFile, LockMode) -> Boolean,
        val guard: (LocksFile, LockMode) -> LockGuard,
        val with: (LocksFile, LockMode, () -> Unit) -> Unit,
        val release: (LocksFile) -> Unit,
        val javaTimed: ((LocksFile, LockMode) -> Boolean)? = null,
    )

    private val forms = listOf(
        Form(
            "Int 4", 4L..4L, { f, m -> f.acquire(4, m) }, { f, m -> f.tryAcquire(4, m) }, { f, m -> f.acquire(4, m, 5.seconds) },
            { f, m -> f.acquireSuspending(4, m) }, { f, m -> if (m == LockMode.READ) f.read(4) else f.write(4) },
            { f, m, action -> if (m == LockMode.READ) f.withReadLock(4, action) else f.withWriteLock(4, action) }, { f -> f.release(4) },
            javaTimed = { f, m -> f.acquire(4, m, java.time.Duration.ofSeconds(5)) },
        ),
        Form(
            "Long 4", 4L..4L, { f, m -> f.acquire(4L, m) }, { f, m -> f.tryAcquire(4L, m) }, { f, m -> f.acquire(4L, m, 5.seconds) },
            { f, m -> f.acquireSuspending(4L, m) }, { f, m -> if (m == LockMode.READ) f.read(4L) else f.write(4L) },
            { f, m, action -> if (m == LockMode.READ) f.withReadLock(4L, action) else f.withWriteLock(4L, action) }, { f -> f.release(4L) },
            javaTimed = { f, m -> f.acquire(4L, m, java.time.Duration.ofSeconds(5)) },
        ),
        Form(
            "IntRange 3..5", 3L..5L, { f, m -> f.acquire(3..5, m) }, { f, m -> f.tryAcquire(3..5, m) }, { f, m -> f.acquire(3..5, m, 5.seconds) },
            { f, m -> f.acquireSuspending(3..5, m) }, { f, m -> if (m == LockMode.READ) f.read(3..5) else f.write(3..5) },
            { f, m, action -> if (m == LockMode.READ) f.withReadLock(3..5, action) else f.withWriteLock(3..5, action) }, { f -> f.release(3..5) },
            javaTimed = { f, m -> f.acquire(3..5, m, java.time.Duration.ofSeconds(5)) },
        ),
        Form(
            "LongRange 3..5", 3L..5L, { f, m -> f.acquire(3L..5L, m) }, { f, m -> f.tryAcquire(3L..5L, m) }, { f, m -> f.acquire(3L..5L, m, 5.seconds) },
            { f, m -> f.acquireSuspending(3L..5L, m) }, { f, m -> if (m == LockMode.READ) f.read(3L..5L) else f.write(3L..5L) },
            { f, m, action -> if (m == LockMode.READ) f.withReadLock(3L..5L, action) else f.withWriteLock(3L..5L, action) }, { f -> f.release(3L..5L) },
            javaTimed = { f, m -> f.acquire(3L..5L, m, java.time.Duration.ofSeconds(5)) },
        ),
        Form(
            "LocksFile.range(3, 5)", 3L..5L, { f, m -> f.acquire(LocksFile.range(3, 5), m) }, { f, m -> f.tryAcquire(LocksFile.range(3, 5), m) },
            { f, m -> f.acquire(LocksFile.range(3, 5), m, 5.seconds) }, { f, m -> f.acquireSuspending(LocksFile.range(3, 5), m) },
            { f, m -> if (m == LockMode.READ) f.read(LocksFile.range(3, 5)) else f.write(LocksFile.range(3, 5)) },
            { f, m, action -> if (m == LockMode.READ) f.withReadLock(LocksFile.range(3, 5), action) else f.withWriteLock(LocksFile.range(3, 5), action) },
            { f -> f.release(LocksFile.range(3, 5)) },
        ),
        Form(
            "LocksFile.rangeFrom(5)", 5L..LocksFile.MAX_INDEX, { f, m -> f.acquire(LocksFile.rangeFrom(5), m) },
            { f, m -> f.tryAcquire(LocksFile.rangeFrom(5), m) }, { f, m -> f.acquire(LocksFile.rangeFrom(5), m, 5.seconds) },
            { f, m -> f.acquireSuspending(LocksFile.rangeFrom(5), m) },
            { f, m -> if (m == LockMode.READ) f.read(LocksFile.rangeFrom(5)) else f.write(LocksFile.rangeFrom(5)) },
            { f, m, action -> if (m == LockMode.READ) f.withReadLock(LocksFile.rangeFrom(5), action) else f.withWriteLock(LocksFile.rangeFrom(5), action) },
            { f -> f.release(LocksFile.rangeFrom(5)) },
        ),
    )

    /** The indices 2..7 and one far out that [other] finds busy for a writer. */
    private fun busy(other: WorkerProcess): List<Long> = (listOf(2L, 3L, 4L, 5L, 6L, 7L, 1_000_000L)).filter { !other.canTake("write", "$it") }

    private fun expected(form: Form) = listOf(2L, 3L, 4L, 5L, 6L, 7L, 1_000_000L).filter { it in form.indices }

    @Test
    fun `every form of every acquire, guard and release takes exactly the locks it names`() {
        WorkerProcess(path).use { other ->
            LocksFile.open(path.path).use { locks ->
                for (form in forms) {
                    for (mode in LockMode.entries) {
                        val ways = mutableListOf<Pair<String, () -> Unit>>(
                            "acquire" to { form.acquire(locks, mode) },
                            "tryAcquire" to { assertEquals(true, form.tryAcquire(locks, mode)) },
                            "acquire with a timeout" to { assertEquals(true, form.timed(locks, mode)) },
                            "acquireSuspending" to { assertEquals(true, runBlocking { form.suspending(locks, mode) }) },
                        )
                        form.javaTimed?.let { timed -> ways += "acquire with a java.time.Duration" to { assertEquals(true, timed(locks, mode)) } }
                        for ((way, take) in ways) {
                            take()
                            assertEquals(expected(form), busy(other), "${form.name}, $mode, $way: held")
                            assertEquals(mode, locks.held().single().mode)
                            form.release(locks)
                            assertEquals(emptyList(), busy(other), "${form.name}, $mode, $way: released")
                        }
                        form.guard(locks, mode).use { guard ->
                            assertEquals(mode, guard.mode)
                            assertEquals(expected(form), busy(other), "${form.name}, $mode, guard: held")
                        }
                        assertEquals(emptyList(), busy(other), "${form.name}, $mode, guard: released")
                        form.with(locks, mode) { assertEquals(expected(form), busy(other), "${form.name}, $mode, with-function: held") }
                        assertEquals(emptyList(), busy(other), "${form.name}, $mode, with-function: released")
                    }
                }
            }
        }
    }
}
