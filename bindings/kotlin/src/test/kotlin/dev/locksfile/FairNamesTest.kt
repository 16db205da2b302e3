package dev.locksfile

import java.io.File
import java.lang.reflect.Modifier
import java.nio.file.Files
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Test

/**
 * Issue 13 in Kotlin: names (a `String` wherever an index goes, the lock [LocksFile.indexOf] it) and
 * fair handles (`fair = true`: a waiting writer holds back new fair readers). Every exclusion is
 * observed from another JVM; waits are states seen in /proc/locks, never the clock.
 */
class FairNamesTest {
    private val dir: File = Files.createTempDirectory("locksfile-fair-names").toFile()
    private val path = File(dir, "fair.lock")
    private val workers = mutableListOf<WorkerProcess>()

    private fun worker(fair: Boolean = false) = WorkerProcess(path, fair = fair).also { workers += it }

    @AfterEach
    fun cleanUp() {
        workers.forEach { it.close() }
        dir.deleteRecursively()
    }

    @Test
    fun `indexOf is the core's, the same in every language, and callable from Java`() {
        // Pinned in core/src/name.rs (and computed there independently from the formula).
        assertEquals(2_370_090_560_691_594_753L, LocksFile.indexOf("dataset-42"))
        assertEquals(3_433_969_125_170_851_786L, LocksFile.indexOf("dataset-43"))
        assertEquals(4_077_579_130_462_500_905L, LocksFile.indexOf("ünïcødé"))
        assertEquals(4_465_886_293_029_758_244L, LocksFile.indexOf(""))
        WorkerProcess(null).use { other -> assertEquals("2370090560691594753", other.ask("index-of dataset-42")) }
        // The direct path (JNI) and the generated call compute it with the same Rust function.
        val names = listOf("", "a", "dataset-42", "ünïcødé", "🔒 locks", "nul\u0000inside", "x".repeat(10_000), "job-\uDBFF\uDFFF")
        for (name in names) assertEquals(dev.locksfile.ffi.indexOf(name).toLong(), LocksFile.indexOf(name), name.take(20))
        val method = LocksFile::class.java.getMethod("indexOf", String::class.java)
        assertTrue(Modifier.isStatic(method.modifiers) && method.returnType == Long::class.javaPrimitiveType, "$method")
    }

    @Test
    fun `a name without a UTF-8 form is an IllegalArgumentException, taking nothing`() {
        val lone = "job-\uD800"
        assertFailsWith<IllegalArgumentException> { LocksFile.indexOf(lone) }
        assertFailsWith<IllegalArgumentException> { LocksFile.indexOf("\uDC00-job") }
        assertFailsWith<java.nio.charset.CharacterCodingException> { dev.locksfile.ffi.indexOf(lone) } // the generated path refuses it too
        LocksFile.open(path.path).use { locks ->
            assertFailsWith<IllegalArgumentException> { locks.acquire(lone, LockMode.WRITE) }
            assertFailsWith<IllegalArgumentException> { locks.tryAcquire(lone, LockMode.READ) }
            assertEquals(emptyList(), locks.held())
        }
    }

    /** One way to take the lock of a name, and to let it go. */
    private class Way(val name: String, val take: (LocksFile, String, LockMode) -> AutoCloseable)

    private val ways = listOf(
        Way("acquire") { f, n, m -> f.acquire(n, m); AutoCloseable { f.release(n) } },
        Way("tryAcquire") { f, n, m -> assertTrue(f.tryAcquire(n, m)); AutoCloseable { f.release(n) } },
        Way("acquire with a Duration") { f, n, m -> assertTrue(f.acquire(n, m, 5.seconds)); AutoCloseable { f.release(n) } },
        Way("acquire with a java.time.Duration") { f, n, m ->
            assertTrue(f.acquire(n, m, java.time.Duration.ofSeconds(5)))
            AutoCloseable { f.release(n) }
        },
        Way("acquireSuspending") { f, n, m -> assertTrue(runBlocking { f.acquireSuspending(n, m) }); AutoCloseable { f.release(n) } },
        Way("acquireSuspending with a timeout") { f, n, m ->
            assertTrue(runBlocking { f.acquireSuspending(n, m, 5.seconds) })
            AutoCloseable { f.release(n) }
        },
        Way("guard") { f, n, m -> if (m == LockMode.READ) f.read(n) else f.write(n) },
    )

    /** What [other] can take of the two names and of the index of the first, as it says it. */
    private fun seen(other: WorkerProcess): List<String> = listOf(
        "read dataset-42 " + other.canTake("read", "name:dataset-42"),
        "write dataset-42 " + other.canTake("write", "name:dataset-42"),
        "write index " + other.canTake("write", "${LocksFile.indexOf("dataset-42")}"),
        "write dataset-43 " + other.canTake("write", "name:dataset-43"),
    )

    private fun held(mode: LockMode) = listOf(
        "read dataset-42 ${mode == LockMode.READ}",
        "write dataset-42 false",
        "write index false",
        "write dataset-43 true",
    )

    private val free = listOf("read dataset-42 true", "write dataset-42 true", "write index true", "write dataset-43 true")

    @Test
    fun `a name excludes its own lock from another process and no other name`() {
        val other = worker()
        val index = LocksFile.indexOf("dataset-42")
        for (fair in listOf(false, true)) {
            LocksFile.open(path.path, fair = fair).use { locks ->
                for (mode in LockMode.entries) {
                    for (way in ways) {
                        way.take(locks, "dataset-42", mode).use {
                            assertEquals(held(mode), seen(other), "${way.name}, $mode, fair $fair: held")
                            assertEquals(mode, locks.modeOf("dataset-42"))
                            assertEquals(null, locks.modeOf("dataset-43"))
                            assertEquals(listOf(Held(index, 1, mode)), locks.held())
                        }
                        assertEquals(free, seen(other), "${way.name}, $mode, fair $fair: released")
                    }
                    val with: (() -> Unit) -> Unit = { action ->
                        if (mode == LockMode.READ) locks.withReadLock("dataset-42", action) else locks.withWriteLock("dataset-42", action)
                    }
                    with { assertEquals(held(mode), seen(other), "with-function, $mode, fair $fair: held") }
                    assertEquals(free, seen(other), "with-function, $mode, fair $fair: released")
                }
            }
        }
        // The other way round: the other process holds the name, this one is kept out and sees it.
        assertEquals("ok", other.ask("acquire write name:dataset-42 block"))
        LocksFile.open(path.path).use { locks ->
            assertFalse(locks.tryAcquire("dataset-42", LockMode.READ))
            assertFalse(locks.acquire("dataset-42", LockMode.READ, java.time.Duration.ZERO))
            assertTrue(locks.tryAcquire("dataset-43", LockMode.WRITE))
            assertEquals(listOf(Holder(index, 1, LockMode.WRITE, LockClass.OPEN_FILE, other.pid.toInt())), locks.holders("dataset-42"))
            assertEquals(emptyList(), locks.holders("dataset-43"))
            // Released from the other process by name: this one gets it.
            assertEquals("ok", other.ask("release name:dataset-42"))
            assertTrue(locks.tryAcquire("dataset-42", LockMode.WRITE))
            assertEquals("busy", other.ask("acquire read name:dataset-42 try"))
        }
    }

    /** The ways a fair writer of this JVM waits: each must hold the gate for as long as it waits. */
    private val writerWaits: List<Pair<String, (LocksFile) -> Boolean>> = listOf(
        "acquire" to { f -> f.acquire(5, LockMode.WRITE); true },
        "acquire with a timeout" to { f -> f.acquire(5, LockMode.WRITE, 60.seconds) },
        "acquireSuspending" to { f -> runBlocking { f.acquireSuspending(5, LockMode.WRITE) } },
    )

    /**
     * Whether [reader]'s try for read on 5 is refused while a writer of this JVM waits for 5. This
     * layer's waits are 50 ms kernel waits one after the other (to notice `Thread.interrupt`), and the
     * writer's gate is down between two (README, Kotlin: a limit of this layer): for an instant, or,
     * after `acquireSuspending`'s first attempt on the caller's thread (a wait of 0 s, queued for a
     * moment, which is seen here), until the wait proper starts on `Dispatchers.IO`. A try landing
     * there gets in. So one of three tries, each started once the writer was seen queued, must be
     * refused; without the gate all three get in.
     */
    private fun heldBack(reader: WorkerProcess, locks: ProcLocks): Boolean = (1..3).any {
        locks.awaitWaiter(5)
        when (val reply = reader.ask("acquire read 5 try")) {
            "busy" -> true
            "ok" -> { check(reader.ask("release 5") == "ok"); println("a fair reader got in between two of the writer's waits"); false }
            else -> error("unexpected reply $reply")
        }
    }

    @Test
    fun `a waiting fair writer holds back fair readers of other processes, not plain ones`() {
        val inside = worker(fair = true)
        val fairReader = worker(fair = true)
        val plainReader = worker()
        val locks = ProcLocks(path)
        LocksFile.open(path.path, fair = true).use { writer ->
            assertTrue(writer.isFair)
            for ((way, wait) in writerWaits) {
                assertEquals("ok", inside.ask("acquire read 5 block"))
                assertTrue(fairReader.canTake("read", "5"), "$way: nobody waits yet, a fair reader gets in")
                val waiting = CompletableFuture.supplyAsync { wait(writer) }
                locks.awaitWaiter(5) // the writer, queued behind the reader inside, holding the gate of 5
                assertTrue(heldBack(fairReader, locks), "$way: a fair reader is held back while the writer waits")
                assertTrue(fairReader.canTake("read", "6"), "$way: the gate is per index")
                assertTrue(plainReader.canTake("read", "5"), "$way: a plain reader does not wait at the gate")
                assertFalse(waiting.isDone, "$way: the writer still waits")
                assertEquals("ok", inside.ask("release 5"))
                assertTrue(waiting.get(30, TimeUnit.SECONDS), way)
                assertEquals(LockMode.WRITE, writer.modeOf(5))
                assertFalse(fairReader.canTake("read", "5"), "$way: the writer holds it")
                writer.release(5)
                assertTrue(fairReader.canTake("read", "5"), "$way: released, and no gate left held")
                assertTrue(plainReader.canTake("write", "0.."), "$way: nothing left held at all")
            }
        }
    }

    @Test
    fun `a fair handle's indices end below 2^62, where the gates begin`() {
        val gate = 1L shl 62
        LocksFile.open(path.path, fair = true).use { locks ->
            assertTrue(locks.isFair)
            val refused: List<Pair<String, () -> Unit>> = listOf(
                "invalid lock range (start 4611686018427387904, count 1): a fair handle's indices must be below 4611686018427387904 (2^62: the gates lie above)" to
                    { locks.acquire(gate, LockMode.WRITE) },
                "invalid lock range (start 4611686018427387904, count 1): a fair handle's indices must be below 4611686018427387904 (2^62: the gates lie above)" to
                    { locks.tryAcquire(gate, LockMode.READ) },
                "invalid lock range (start 4611686018427387903, count 2): a fair handle's last index must be below 4611686018427387904 (2^62: the gates lie above)" to
                    { locks.acquire(gate - 1..gate, LockMode.READ, 1.seconds) },
                "invalid lock range (start 4611686018427387904, count 1): a fair handle's indices must be below 4611686018427387904 (2^62: the gates lie above)" to
                    { runBlocking { locks.acquireSuspending(gate, LockMode.WRITE) } },
                "invalid lock range (start 4611686018427387904, count 1): a fair handle's indices must be below 4611686018427387904 (2^62: the gates lie above)" to
                    { locks.release(gate) },
            )
            for ((expected, case) in refused) {
                val error = assertFailsWith<LocksFileException.InvalidRange> { case() }
                assertEquals(expected, error.detail)
            }
            assertEquals(emptyList(), locks.held())
            // The last index below the gates works, and a range to the end stops there: another
            // process finds 2^62 - 1 taken and 2^62 free.
            val other = worker()
            locks.write(gate - 1).use { assertFalse(other.canTake("read", "${gate - 1}")) }
            locks.acquire(LocksFile.rangeFrom(5), LockMode.WRITE)
            assertEquals(listOf(Held(5, gate - 5, LockMode.WRITE)), locks.held())
            assertFalse(other.canTake("read", "${gate - 1}"))
            assertTrue(other.canTake("write", "$gate.."))
        }
        // A handle that is not fair takes 2^62 like any index.
        LocksFile.open(path.path).use { locks ->
            assertFalse(locks.isFair)
            locks.acquire(gate, LockMode.WRITE)
            assertEquals(LockMode.WRITE, locks.modeOf(gate))
        }
        LocksFile.open(path.path, Scope.PROCESS, fair = true).use { assertTrue(it.isFair && it.scope == Scope.PROCESS) }
        // From Java, fair is the last parameter of open's overloads.
        val javaOpen = LocksFile::class.java.getMethod(
            "open", String::class.java, Scope::class.java, Boolean::class.javaPrimitiveType, Int::class.javaPrimitiveType, Boolean::class.javaPrimitiveType,
        )
        assertTrue(Modifier.isStatic(javaOpen.modifiers))
    }
}
