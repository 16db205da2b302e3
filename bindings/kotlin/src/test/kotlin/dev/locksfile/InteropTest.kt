package dev.locksfile

import java.io.File
import java.io.RandomAccessFile
import java.nio.file.Files
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Test

/** Lock i is byte i: plain Java `FileChannel.lock(i, 1, shared)` in another process conflicts with our lock i, both ways. */
class InteropTest {
    private val dir: File = Files.createTempDirectory("locksfile-interop").toFile()
    private val path = File(dir, "test.lock")

    @AfterEach
    fun cleanUp() {
        dir.deleteRecursively()
    }

    @Test
    fun `a FileChannel lock in another process excludes our lock on that byte`() {
        path.createNewFile()
        WorkerProcess(null).use { java ->
            assertEquals("ok", java.ask("channel-open $path"))
            assertEquals("ok", java.ask("channel-lock write 4 try"))
            assertEquals("ok", java.ask("channel-lock read 9..11 try"))
            LocksFile.open(path.path).use { locks ->
                assertFalse(locks.tryAcquire(4, LockMode.READ))
                assertTrue(locks.tryAcquire(3, LockMode.WRITE) && locks.tryAcquire(5, LockMode.WRITE))
                assertTrue(locks.tryAcquire(9L..10L, LockMode.READ))
                assertFalse(locks.tryAcquire(10, LockMode.WRITE))
                assertEquals("ok", java.ask("channel-release 4"))
                assertTrue(locks.tryAcquire(4, LockMode.WRITE))
            }
        }
    }

    @Test
    fun `our lock excludes a FileChannel lock on that byte in another process`() {
        LocksFile.open(path.path).use { locks ->
            locks.acquire(6, LockMode.WRITE)
            locks.acquire(20L..21L, LockMode.READ)
            WorkerProcess(null).use { java ->
                assertEquals("ok", java.ask("channel-open $path"))
                assertEquals("busy", java.ask("channel-lock read 6 try"))
                assertEquals("ok", java.ask("channel-lock write 7 try"))
                assertEquals("ok", java.ask("channel-lock read 20..22 try"))
                assertEquals("ok", java.ask("channel-release 20..22")) // one JVM may not hold overlapping FileLocks
                assertEquals("busy", java.ask("channel-lock write 21 try"))
            }
        }
    }

    @Test
    fun `FileChannel in this JVM conflicts with our open-file scope locks`() {
        LocksFile.open(path.path).use { locks ->
            RandomAccessFile(path, "rw").channel.use { channel ->
                val lock = channel.tryLock(3, 1, false)!!
                assertFalse(locks.tryAcquire(3, LockMode.READ))
                lock.release()
                assertTrue(locks.tryAcquire(3, LockMode.WRITE))
            }
        }
    }
}
