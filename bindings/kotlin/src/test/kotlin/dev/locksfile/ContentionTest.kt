package dev.locksfile

import java.io.File
import java.nio.file.Files
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.milliseconds
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Test

/** Two JVM processes contending on one lock file; every exclusion is observed from the other JVM. */
class ContentionTest {
    private val dir: File = Files.createTempDirectory("locksfile-kotlin").toFile()
    private val path = File(dir, "test.lock")
    private val workers = mutableListOf<WorkerProcess>()

    private fun worker(scope: Scope = Scope.OPEN_FILE) = WorkerProcess(path, scope).also { workers += it }

    @AfterEach
    fun cleanUp() {
        workers.forEach { it.close() }
        dir.deleteRecursively()
    }

    @Test
    fun `a write lock excludes readers and writers of that index only`() {
        val (a, b) = worker() to worker()
        assertEquals("ok", a.ask("acquire write 1 block"))
        assertFalse(b.canTake("write", "1"))
        assertFalse(b.canTake("read", "1"))
        assertTrue(b.canTake("write", "0") && b.canTake("write", "2"))
        assertEquals("ok", a.ask("release 1"))
        assertTrue(b.canTake("write", "1"))
    }

    @Test
    fun `readers share and exclude writers`() {
        val (a, b) = worker() to worker()
        LocksFile.open(path.path).use { locks ->
            locks.withReadLock(0) {
                assertTrue(a.canTake("read", "0"))
                assertFalse(a.canTake("write", "0"))
                assertEquals("ok", b.ask("acquire read 0 block"))
            }
            assertFalse(a.canTake("write", "0"), "the other reader still holds it")
            assertEquals("ok", b.ask("release 0"))
            assertTrue(a.canTake("write", "0"))
        }
    }

    @Test
    fun `an interval is taken whole or not at all`() {
        val (holder, checker) = worker() to worker()
        assertEquals("ok", holder.ask("acquire write 2 block"))
        LocksFile.open(path.path).use { locks ->
            assertFalse(locks.tryAcquire(0L..4L, LockMode.WRITE))
            assertEquals(emptyList(), locks.held())
            assertTrue(checker.canTake("write", "0"))
            assertEquals("ok", holder.ask("release 2"))
            locks.withWriteLock(0..4) {
                for (i in 0..4) assertFalse(checker.canTake("read", "$i"))
                assertTrue(checker.canTake("write", "5"))
            }
            assertTrue(checker.canTake("write", "0..5"))
        }
    }

    @Test
    fun `conversion is seen from the other JVM`() {
        val other = worker()
        LocksFile.open(path.path).use { locks ->
            locks.acquire(1L..3L, LockMode.WRITE)
            locks.acquire(2, LockMode.READ)
            assertEquals(
                listOf(Held(1, 1, LockMode.WRITE), Held(2, 1, LockMode.READ), Held(3, 1, LockMode.WRITE)),
                locks.held(),
            )
            assertTrue(other.canTake("read", "2"))
            assertFalse(other.canTake("write", "2"))
            assertFalse(other.canTake("read", "1"))
            assertEquals(LockMode.READ, locks.modeOf(2))
        }
    }

    @Test
    fun `release all frees everything`() {
        val other = worker()
        LocksFile.open(path.path).use { locks ->
            locks.acquire(0L..2L, LockMode.WRITE)
            locks.acquireFrom(100, LockMode.READ)
            assertFalse(other.canTake("write", "5000"))
            locks.releaseAll()
            assertTrue(other.canTake("write", "0.."))
            locks.acquire(7, LockMode.WRITE)
        }
        assertTrue(other.canTake("write", "7"), "close released it")
    }

    @Test
    fun `timeouts give up at the deadline and take a lock freed before it`() {
        val holder = worker()
        assertEquals("ok", holder.ask("acquire write 7 block"))
        LocksFile.open(path.path).use { locks ->
            val began = System.nanoTime()
            assertFalse(locks.acquire(7, LockMode.WRITE, 300.milliseconds))
            val waited = (System.nanoTime() - began) / 1_000_000
            // Bounded above generously: the machine is shared; a wait that ignores its deadline fails.
            assertTrue(waited in 300 until 10_000, "a 300 ms timeout waited $waited ms")
            assertFalse(locks.acquire(7, LockMode.READ, java.time.Duration.ZERO))
            // Released once our request is queued in the kernel, so the timed wait must take it.
            val released = CompletableFuture.runAsync { ProcLocks(path).awaitWaiter(7); check(holder.ask("release 7") == "ok") }
            assertTrue(locks.acquire(7, LockMode.WRITE, java.time.Duration.ofSeconds(10)))
            released.get(10, TimeUnit.SECONDS)
            assertFalse(holder.canTake("read", "7"))
        }
    }

    @Test
    fun `process scope reports a deadlock to one side instead of hanging`() {
        val other = worker(Scope.PROCESS)
        LocksFile.open(path.path, Scope.PROCESS).use { locks ->
            locks.acquire(1, LockMode.WRITE)
            assertEquals("ok", other.ask("acquire write 2 block"))
            other.send("acquire write 1 block")
            ProcLocks(path).awaitWaiter(1)
            val replies = java.util.concurrent.CopyOnWriteArrayList<String>()
            // A blocked JVM thread waits in slices (to notice Thread.interrupt), so either request
            // may be the one that closes the cycle: exactly one side gets the deadlock error.
            val releaser = Thread {
                // If the other side is refused, it lets go of 2, so that our request completes.
                val reply = other.reply()
                if (reply.startsWith("err Deadlock")) other.send("release-all")
                replies.add(reply)
            }.apply { start() }
            val ours = runCatching { locks.acquire(2, LockMode.WRITE) }.exceptionOrNull()
            if (ours != null) {
                assertTrue(ours is LocksFileException.Deadlock, "$ours")
                assertTrue(ours.detail.contains("deadlock"), ours.detail)
                locks.releaseAll()
                releaser.join(10_000)
                assertEquals(listOf("ok"), replies)
            } else {
                releaser.join(10_000)
                assertTrue(replies.single().startsWith("err Deadlock"), "$replies")
                assertEquals(LockMode.WRITE, locks.modeOf(2))
            }
        }
    }

    @Test
    fun `holders names the other JVM`() {
        val other = worker()
        assertEquals("ok", other.ask("acquire write 5 block"))
        LocksFile.open(path.path).use { locks ->
            assertEquals(listOf(Holder(5, 1, LockMode.WRITE, LockClass.OPEN_FILE, other.pid.toInt())), locks.holders())
        }
    }
}
