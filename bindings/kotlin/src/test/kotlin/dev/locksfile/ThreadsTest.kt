package dev.locksfile

import java.io.File
import java.nio.file.Files
import java.util.concurrent.CountDownLatch
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Test

/** Threads, interruption and coroutines in one JVM, with another JVM holding locks where needed. */
class ThreadsTest {
    private val dir: File = Files.createTempDirectory("locksfile-threads").toFile()
    private val path = File(dir, "test.lock").path

    @AfterEach
    fun cleanUp() {
        dir.deleteRecursively()
    }

    @Test
    fun `two open-file handles in one JVM exclude each other across threads`() {
        LocksFile.open(path).use { first ->
            LocksFile.open(path).use { second ->
                first.acquire(1, LockMode.WRITE)
                assertFalse(second.tryAcquire(1, LockMode.READ))
                val got = CountDownLatch(1)
                val waiter = Thread { second.acquire(1, LockMode.WRITE); got.countDown() }.apply { start() }
                ProcLocks(File(path)).awaitWaiter(1)
                assertEquals(1, got.count, "the second handle waits")
                first.release(1)
                waiter.join(10_000)
                assertEquals(0, got.count)
                assertFalse(first.tryAcquire(1, LockMode.READ))
            }
        }
    }

    @Test
    fun `threads with their own handles never overlap in a write lock`() {
        val inside = AtomicInteger()
        val overlaps = AtomicInteger()
        val threads = (0 until 4).map {
            Thread {
                LocksFile.open(path).use { locks ->
                    repeat(300) {
                        locks.withWriteLock(0) {
                            if (inside.incrementAndGet() != 1) overlaps.incrementAndGet()
                            inside.decrementAndGet()
                        }
                    }
                }
            }.apply { start() }
        }
        threads.forEach { it.join() }
        assertEquals(0, overlaps.get())
    }

    @Test
    fun `interrupting a blocked thread gets it out with an exception holding nothing new`() {
        WorkerProcess(File(path)).use { holder ->
            assertEquals("ok", holder.ask("acquire write 0..3 block"))
            LocksFile.open(path).use { locks ->
                for (timed in listOf(false, true)) {
                    val thrown = AtomicReference<Throwable?>()
                    val waiter = Thread {
                        try {
                            if (timed) locks.acquire(2L..5L, LockMode.WRITE, 60.seconds) else locks.acquire(2L..5L, LockMode.WRITE)
                        } catch (e: Throwable) {
                            thrown.set(e)
                        }
                    }.apply { start() }
                    ProcLocks(File(path)).awaitWaiter(2)
                    val interrupted = System.nanoTime()
                    waiter.interrupt()
                    waiter.join(10_000)
                    println("interrupt to exit (timed=$timed): ${(System.nanoTime() - interrupted) / 1_000_000} ms")
                    assertFalse(waiter.isAlive)
                    assertTrue(thrown.get() is InterruptedException, "${thrown.get()}")
                    assertEquals(emptyList(), locks.held())
                    assertTrue(holder.canTake("write", "4..6"), "nothing half-held")
                }
            }
        }
    }

    @Test
    fun `a suspending acquire leaves the dispatcher free and honours cancellation`() {
        WorkerProcess(File(path)).use { holder ->
            assertEquals("ok", holder.ask("acquire write 3 block"))
            LocksFile.open(path).use { locks ->
                runBlocking {
                    // runBlocking has one thread: this coroutine sees the wait queued in the kernel
                    // only if the wait does not block that thread (else the test times out).
                    val table = ProcLocks(File(path))
                    val cancelled = async { locks.acquireSuspending(3, LockMode.WRITE) }
                    table.awaitWaiterSuspending(3)
                    cancelled.cancel()
                    val thrown = runCatching { cancelled.await() }.exceptionOrNull()
                    assertTrue(thrown is CancellationException, "$thrown")
                    assertEquals(emptyList(), locks.held())
                    assertEquals(0, table.waiters(3), "the cancelled wait left the kernel's queue")
                    assertFalse(locks.acquireSuspending(3, LockMode.READ, 100.milliseconds))
                    val waiter = async { locks.acquireSuspending(3L..3L, LockMode.WRITE) }
                    table.awaitWaiterSuspending(3)
                    assertEquals("ok", holder.ask("release 3"))
                    assertTrue(waiter.await())
                }
                assertEquals(listOf(Held(3, 1, LockMode.WRITE)), locks.held())
            }
        }
    }
}
