package dev.locksfile

import dev.locksfile.ffi.OpenOptions

import java.io.File
import java.nio.file.Files
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CyclicBarrier
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Test

/**
 * close() while another thread waits (issue 11): the waiter ends with Closed, holding nothing, while
 * the holder in another process still holds; afterwards another process can take the lock.
 */
class CloseTest {
    private val dir: File = Files.createTempDirectory("locksfile-close").toFile()
    private val path = File(dir, "test.lock").apply { createNewFile() }
    private val table = ProcLocks(path)

    @AfterEach
    fun cleanUp() {
        dir.deleteRecursively()
    }

    /** A way of waiting for lock 5, and of closing the handle it waits on. */
    private class Waiter(val name: String, val wait: () -> Unit, val close: () -> Unit)

    private fun waiters(): List<Waiter> {
        fun wrapper(name: String, wait: (LocksFile) -> Unit) =
            LocksFile.open(path.path).let { locks -> Waiter(name, { wait(locks) }, locks::close) }
        return listOf(
            wrapper("acquire") { it.acquire(5, LockMode.WRITE) },
            wrapper("acquire with a timeout") { it.acquire(5, LockMode.WRITE, 60.seconds) },
            wrapper("acquire with an infinite timeout") { it.acquire(5, LockMode.WRITE, kotlin.time.Duration.INFINITE) },
            wrapper("acquireSuspending") { runBlocking { it.acquireSuspending(5, LockMode.WRITE) } },
            wrapper("write guard") { it.write(5L..5L).close() },
            // The generated path, for contrast: one kernel wait, no slices (its error converted as the
            // layer converts every one).
            dev.locksfile.ffi.LocksFile(path.path, OpenOptions(dev.locksfile.ffi.Scope.OPEN_FILE, true, 420u)).let { native ->
                Waiter("generated acquire", { converting { native.acquire(5uL, 1uL, dev.locksfile.ffi.LockMode.WRITE) } }, { converting { native.closeFile() } })
            },
        )
    }

    @Test
    fun `close ends a wait with Closed while another process holds the lock`() {
        // The issue's holder: plain java.nio FileChannel in another JVM (a classic POSIX lock).
        WorkerProcess(null).use { holder ->
            WorkerProcess(path).use { checker ->
                assertEquals("ok", holder.ask("channel-open $path"))
                for (waiter in waiters()) {
                    assertEquals("ok", holder.ask("channel-lock write 5 block"))
                    val ended = CompletableFuture<Pair<Throwable?, Long>>()
                    Thread {
                        val thrown = runCatching { waiter.wait() }.exceptionOrNull()
                        ended.complete(thrown to System.nanoTime())
                    }.start()
                    table.awaitWaiter(5)
                    val closing = System.nanoTime()
                    waiter.close()
                    val closed = System.nanoTime()
                    val (thrown, at) = ended.get(10, TimeUnit.SECONDS)
                    println(
                        "close during ${waiter.name}: waiter ended ${(at - closing) / 1000} µs after close began; " +
                            "close took ${(closed - closing) / 1000} µs",
                    )
                    assertTrue(thrown is LocksFileException.Closed, "${waiter.name}: $thrown")
                    assertTrue(at - closing < 2_000_000_000, "${waiter.name}: ended ${(at - closing) / 1_000_000} ms after close")
                    // The holder still holds; nothing waits any more; the closed handle holds nothing.
                    assertTrue(table.isHeld(5), "${waiter.name}: ${table.entries()}")
                    assertFalse(checker.canTake("write", "5"), waiter.name)
                    assertEquals(0, table.waiters(5), "${waiter.name}: ${table.entries()}")
                    assertEquals("ok", holder.ask("channel-release 5"))
                    assertTrue(checker.canTake("write", "5"), "${waiter.name}: the closed handle took lock 5")
                }
            }
        }
    }

    @Test
    fun `an acquire racing with close either returned or throws Closed, and nothing stays held`() {
        WorkerProcess(path).use { checker ->
            val outcomes = mutableMapOf<String, Int>()
            repeat(20) { round ->
                for (waiter in waiters()) {
                    val start = CyclicBarrier(2)
                    val ended = CompletableFuture<Throwable?>()
                    Thread {
                        start.await()
                        ended.complete(runCatching { waiter.wait() }.exceptionOrNull())
                    }.start()
                    start.await()
                    waiter.close()
                    val thrown = ended.get(10, TimeUnit.SECONDS)
                    assertTrue(thrown == null || thrown is LocksFileException.Closed, "${waiter.name}, round $round: $thrown")
                    outcomes.merge("${waiter.name}: ${if (thrown == null) "returned" else "Closed"}", 1, Int::plus)
                    assertTrue(checker.canTake("write", "5"), "${waiter.name}, round $round: lock 5 stayed held after close")
                }
            }
            println("acquire racing close, 20 rounds: ${outcomes.toSortedMap()}")
        }
    }
}
