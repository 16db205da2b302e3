package dev.locksfile

import dev.locksfile.ffi.LocksFileException
import java.io.File
import java.nio.file.Files
import kotlin.test.assertEquals
import kotlin.test.assertSame
import kotlin.test.assertTrue
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Test

/**
 * Guards and the with-functions, which hold locks without a guard object: they release on every
 * exit path, exactly as `use {}` on a guard does, and a guard reports what it holds.
 */
class GuardTest {
    private val dir: File = Files.createTempDirectory("locksfile-guard").toFile()
    private val path = File(dir, "test.lock").path

    @AfterEach
    fun cleanUp() {
        dir.deleteRecursively()
    }

    @Test
    fun `the with-functions return the action's value and release on return and on a throw`() {
        LocksFile.open(path).use { locks ->
            assertEquals(7, locks.withWriteLock(3) { assertEquals(LockMode.WRITE, locks.modeOf(3)); 7 })
            assertEquals("r", locks.withReadLock(2L..4L) { assertEquals(listOf(Held(2, 3, LockMode.READ)), locks.held()); "r" })
            assertEquals(emptyList(), locks.held())
            val thrown = IllegalStateException("inside")
            for (withLock in listOf<(() -> Unit) -> Unit>(
                { action -> locks.withWriteLock(5, action) },
                { action -> locks.withReadLock(5, action) },
                { action -> locks.withWriteLock(5..6, action) },
                { action -> locks.withReadLock(5L..6L, action) },
            )) {
                assertSame(thrown, runCatching { withLock { throw thrown } }.exceptionOrNull())
                assertEquals(emptyList(), locks.held())
            }
        }
    }

    @Test
    fun `a non-local return or break out of a with-function releases`() {
        LocksFile.open(path).use { locks ->
            fun returnsFromInside(): Int {
                locks.withWriteLock(8) { return 8 }
            }
            assertEquals(8, returnsFromInside())
            assertEquals(emptyList(), locks.held())
            for (round in 0..2) {
                locks.withReadLock(9L..10L) { if (round == 1) break }
            }
            assertEquals(emptyList(), locks.held())
            for (round in 0..2) {
                locks.withWriteLock(11) { if (round == 0) continue }
                assertEquals(emptyList(), locks.held())
            }
        }
    }

    @Test
    fun `a release that fails after the action failed is suppressed, as use {} does`() {
        val failures = listOf<(LocksFile, () -> Unit) -> Unit>(
            { locks, action -> locks.write(1).use { action() } },
            { locks, action -> locks.withWriteLock(1) { action() } },
        ).map { withLock ->
            val locks = LocksFile.open(path)
            val thrown = IllegalStateException("inside")
            val caught = runCatching { withLock(locks) { locks.close(); throw thrown } }.exceptionOrNull()
            assertSame(thrown, caught)
            caught!!.suppressed.map { it::class }
        }
        assertEquals(listOf(LocksFileException.Closed::class), failures.first())
        assertEquals(failures.first(), failures.last())
        // With no failure inside, the release's own failure is thrown.
        val locks = LocksFile.open(path)
        assertTrue(runCatching { locks.withWriteLock(1) { locks.close() } }.exceptionOrNull() is LocksFileException.Closed)
    }

    @Test
    fun `a guard reports what it holds and releases exactly that`() {
        LocksFile.open(path).use { locks ->
            locks.write(4).use { guard ->
                assertEquals(Triple(4L, 1L as Long?, LockMode.WRITE), Triple(guard.start, guard.count, guard.mode))
            }
            locks.read(10L..19L).use { guard ->
                assertEquals(Triple(10L, 10L as Long?, LockMode.READ), Triple(guard.start, guard.count, guard.mode))
                locks.write(30).use { }
                assertEquals(listOf(Held(10, 10, LockMode.READ)), locks.held())
            }
            locks.write(5L..MAX_INDEX).use { guard -> assertEquals(null, guard.count) }
            assertEquals(emptyList(), locks.held())
        }
    }
}
