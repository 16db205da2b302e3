package dev.locksfile

import java.io.File
import java.nio.file.Files
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Test

/** Bad input is a typed exception with the core's message (the same in every language), never a crash. */
class BadInputTest {
    private val dir: File = Files.createTempDirectory("locksfile-bad").toFile()

    @AfterEach
    fun cleanUp() {
        dir.deleteRecursively()
    }

    @Test
    fun `bad ranges throw InvalidRange in the core's words`() {
        LocksFile.open(File(dir, "x.lock").path).use { locks ->
            val cases: List<Pair<String, () -> Unit>> = listOf(
                "invalid lock range (start -1, count 1): start must not be negative" to { locks.acquire(-1, LockMode.READ) },
                "invalid lock range (start -5, count 9): start must not be negative" to { locks.tryAcquire(-5L..3L, LockMode.WRITE) },
                "invalid lock range (start 5, count 0): count must be at least 1" to { locks.acquire(5L..4L, LockMode.WRITE) },
                "invalid lock range (start 5, count 0): count must be at least 1" to { locks.acquire(5L..4L, LockMode.READ, 1.seconds) },
                "invalid lock range (start 1, count 0): count must be at least 1" to { locks.release(LongRange.EMPTY) },
                "invalid lock range (start -2, count 1): start must not be negative" to { locks.release(-2) },
                "invalid lock range (start -1, count open-ended): start must not be negative" to { locks.acquireFrom(-1, LockMode.READ) },
                "invalid lock range (start -1, count open-ended): start must not be negative" to { locks.releaseFrom(-1) },
                "invalid lock range (start 3, count 0): count must be at least 1" to { locks.withWriteLock(3..1) {} },
                "invalid lock range (start -1, count 1): start must not be negative" to { locks.modeOf(-1) },
                "invalid lock range (start 4, count 0): count must be at least 1" to { locks.holders(4L..0L) },
                "invalid lock range (start -1, count 1): start must not be negative" to {
                    runBlocking { locks.acquireSuspending(-1, LockMode.WRITE) }
                },
            )
            for ((expected, case) in cases) {
                val error = assertFailsWith<LocksFileException.InvalidRange> { case() }
                assertEquals(expected, error.detail)
            }
            assertEquals(emptyList(), locks.held())
            // The largest index works; one past it cannot be named by a Long at all.
            locks.acquire(LocksFile.MAX_INDEX, LockMode.WRITE)
            assertEquals(LockMode.WRITE, locks.modeOf(LocksFile.MAX_INDEX))
            locks.acquire(0L..LocksFile.MAX_INDEX, LockMode.READ)
            assertEquals(listOf(Held(0, null, LockMode.READ)), locks.held())
            locks.write(1L..LocksFile.MAX_INDEX).use { guard -> assertEquals(null, guard.count) }
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
        assertFailsWith<LocksFileException.Closed> { locks.tryAcquire(1, LockMode.READ) }
        assertFailsWith<LocksFileException.Closed> { locks.acquire(1, LockMode.READ, 1.seconds) }
        assertFailsWith<LocksFileException.Closed> { runBlocking { locks.acquireSuspending(1, LockMode.READ) } }
        assertFailsWith<LocksFileException.Closed> { locks.release(1) }
        assertFailsWith<LocksFileException.Closed> { locks.held() }
    }

    @Test
    fun `negative timeouts throw InvalidTimeout in the core's words, taking nothing`() {
        LocksFile.open(File(dir, "t.lock").path).use { locks ->
            val cases: List<Pair<String, () -> Unit>> = listOf(
                "invalid timeout -1: a timeout is a number of seconds, at least 0" to
                    { locks.acquire(1, LockMode.READ, java.time.Duration.ofSeconds(-1)) },
                "invalid timeout -0.25: a timeout is a number of seconds, at least 0" to
                    { locks.acquire(1L..3L, LockMode.WRITE, (-250).milliseconds) },
                "invalid timeout -inf: a timeout is a number of seconds, at least 0" to
                    { locks.acquire(1, LockMode.WRITE, -Duration.INFINITE) },
                "invalid timeout -2: a timeout is a number of seconds, at least 0" to
                    { runBlocking { locks.acquireSuspending(1, LockMode.WRITE, (-2).seconds) } },
            )
            for ((expected, case) in cases) {
                val error = assertFailsWith<LocksFileException.InvalidTimeout> { case() }
                assertEquals(expected, error.detail)
            }
            assertEquals(emptyList(), locks.held())
        }
    }

    @Test
    fun `an infinite timeout waits without limit`() {
        LocksFile.open(File(dir, "i.lock").path).use { locks ->
            assertTrue(locks.acquire(1, LockMode.WRITE, Duration.INFINITE))
            assertTrue(locks.acquire(2L..3L, LockMode.READ, java.time.Duration.ofSeconds(Long.MAX_VALUE)))
            assertTrue(runBlocking { locks.acquireSuspending(4, LockMode.WRITE, Duration.INFINITE) })
            assertEquals(listOf(Held(1, 1, LockMode.WRITE), Held(2, 2, LockMode.READ), Held(4, 1, LockMode.WRITE)), locks.held())
            // And it does wait: another handle's infinite wait ends when the lock is released.
            LocksFile.open(File(dir, "i.lock").path).use { other ->
                val waiter = CompletableFuture.supplyAsync { other.acquire(1, LockMode.WRITE, Duration.INFINITE) }
                ProcLocks(File(dir, "i.lock")).awaitWaiter(1)
                assertFalse(waiter.isDone)
                locks.release(1)
                assertTrue(waiter.get(10, TimeUnit.SECONDS))
            }
        }
    }
}
