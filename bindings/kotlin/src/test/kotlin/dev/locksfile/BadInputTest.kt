package dev.locksfile

import dev.locksfile.ffi.LocksFileException

import java.io.File
import java.nio.file.Files
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Test

/** Bad input is a typed exception with a clear message, never a crash. */
class BadInputTest {
    private val dir: File = Files.createTempDirectory("locksfile-bad").toFile()

    @AfterEach
    fun cleanUp() {
        dir.deleteRecursively()
    }

    @Test
    fun `bad ranges throw InvalidRange naming the values`() {
        LocksFile.open(File(dir, "x.lock").path).use { locks ->
            val cases: List<() -> Unit> = listOf(
                { locks.acquire(-1, LockMode.READ) },
                { locks.tryAcquire(-5L..3L, LockMode.WRITE) },
                { locks.acquire(5L..4L, LockMode.WRITE) },
                { locks.release(-2) },
                { locks.acquireFrom(-1, LockMode.READ) },
                { locks.withWriteLock(3..1) {} },
                { locks.modeOf(-1) },
            )
            for (case in cases) {
                val error = assertFailsWith<LocksFileException.InvalidRange> { case() }
                assertTrue(error.detail.startsWith("invalid lock range"), error.detail)
            }
            val empty = assertFailsWith<LocksFileException.InvalidRange> { locks.acquire(5L..4L, LockMode.READ) }
            assertTrue(empty.detail.contains("empty") && empty.detail.contains("5"), empty.detail)
            assertEquals(emptyList(), locks.held())
            // The largest index works; one past it cannot be named by a Long at all.
            locks.acquire(MAX_INDEX, LockMode.WRITE)
            assertEquals(LockMode.WRITE, locks.modeOf(MAX_INDEX))
            locks.acquire(0L..MAX_INDEX, LockMode.READ)
            assertEquals(listOf(Held(0, null, LockMode.READ)), locks.held().map { it.copy(count = null) })
        }
    }

    @Test
    fun `opening errors are typed`() {
        assertFailsWith<LocksFileException.MissingDirectory> { LocksFile.open(File(dir, "no/x.lock").path) }
        assertFailsWith<LocksFileException.NotFound> { LocksFile.open(File(dir, "absent.lock").path, create = false) }
        assertFailsWith<LocksFileException.IsDirectory> { LocksFile.open(dir.path) }
        assertFailsWith<IllegalArgumentException> { LocksFile.open(File(dir, "m.lock").path, mode = -1) }
    }

    @Test
    fun `a closed handle throws Closed`() {
        val locks = LocksFile.open(File(dir, "c.lock").path)
        locks.close()
        locks.close()
        assertFailsWith<LocksFileException.Closed> { locks.acquire(1, LockMode.READ) }
        assertFailsWith<LocksFileException.Closed> { locks.release(1) }
        assertFailsWith<LocksFileException.Closed> { locks.held() }
    }

    @Test
    fun `negative timeouts are rejected`() {
        LocksFile.open(File(dir, "t.lock").path).use { locks ->
            assertFailsWith<IllegalArgumentException> { locks.acquire(1, LockMode.READ, java.time.Duration.ofSeconds(-1)) }
        }
    }
}
