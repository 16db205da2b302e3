package dev.locksfile

import java.io.File
import java.nio.file.Files
import kotlinx.coroutines.delay

/**
 * The kernel's lock table, `/proc/locks`, seen for one lock file: tests wait for a state (a request
 * queued behind a holder), never for the clock. A line is `ID: [-> ]CLASS ADVISORY MODE PID
 * MAJ:MIN:INODE START END`; `->` marks a request waiting behind the lock above it. Lines are matched
 * by inode only: on some filesystems the device /proc/locks names is not the one stat reports.
 */
class ProcLocks(private val file: File) {
    private val inode = Files.getAttribute(file.toPath(), "unix:ino") as Long

    /** A lock or waiting request on [file], from one line of /proc/locks. */
    data class Entry(val waiting: Boolean, val kind: String, val mode: String, val first: Long, val last: Long?) {
        fun covers(index: Long) = index >= first && (last == null || index <= last)
    }

    fun entries(): List<Entry> = File("/proc/locks").readLines().mapNotNull { line ->
        val words = line.trim().split(Regex("\\s+")).drop(1)
        val waiting = words.firstOrNull() == "->"
        val fields = if (waiting) words.drop(1) else words
        if (fields.size < 7 || fields[4].substringAfterLast(':').toLongOrNull() != inode) return@mapNotNull null
        Entry(waiting, fields[0], fields[2], fields[5].toLong(), fields[6].toLongOrNull())
    }

    /** How many requests wait in the kernel for lock [index]. */
    fun waiters(index: Long): Int = entries().count { it.waiting && it.covers(index) }

    /** Whether some owner holds lock [index] (granted, not waiting). */
    fun isHeld(index: Long): Boolean = entries().any { !it.waiting && it.covers(index) }

    /**
     * Returns once a request waits in the kernel for lock [index]. A waiting JVM thread re-queues
     * every 50 ms (to notice [Thread.interrupt]), so it is seen queued nearly all the time.
     */
    fun awaitWaiter(index: Long, timeoutMillis: Long = 10_000) {
        val deadline = System.nanoTime() + timeoutMillis * 1_000_000
        while (waiters(index) == 0) {
            check(System.nanoTime() < deadline) { "no request queued for lock $index of $file within $timeoutMillis ms: ${entries()}" }
            Thread.sleep(1)
        }
    }

    /** [awaitWaiter] for a coroutine: it suspends between looks, leaving its thread free. */
    suspend fun awaitWaiterSuspending(index: Long, timeoutMillis: Long = 10_000) {
        val deadline = System.nanoTime() + timeoutMillis * 1_000_000
        while (waiters(index) == 0) {
            check(System.nanoTime() < deadline) { "no request queued for lock $index of $file within $timeoutMillis ms: ${entries()}" }
            delay(1)
        }
    }
}
