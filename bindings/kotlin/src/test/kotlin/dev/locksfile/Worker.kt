package dev.locksfile

import java.io.RandomAccessFile
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.channels.FileChannel
import java.nio.channels.FileLock
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.StandardOpenOption
import kotlin.time.Duration.Companion.milliseconds

/**
 * The Kotlin worker of the project's tests: holds locks through this library as commanded on
 * stdin, one reply line per command on stdout. The protocol is in tests/README.md (the Rust,
 * Python and Swift workers speak it too), with fair handles and names: `open PATH open-file+fair`,
 * `name:NAME` ranges (through this library's name API), `index-of NAME`, `keep-reading` and
 * `stop-reading`. This worker's own extra, with plain `java.nio` only (this library untouched):
 * `channel-open PATH`, `channel-lock read|write RANGE try|block`, `channel-release RANGE`.
 */
object Worker {
    private var file: LocksFile? = null
    private var reading: KeepReading? = null
    private var channel: FileChannel? = null
    private val channelLocks = mutableMapOf<String, FileLock>()

    private class ProtocolException(message: String) : Exception(message)

    @JvmStatic
    fun main(args: Array<String>) {
        while (true) {
            val line = readlnOrNull() ?: break
            val words = line.trim().split(Regex("\\s+"))
            if (words.first().isEmpty()) continue
            if (words.first() == "quit") break
            val reply = try {
                handle(words)
            } catch (e: LocksFileException) {
                // The message is the core's, the same in every language.
                "err ${e::class.simpleName}: ${e.detail}"
            } catch (e: Exception) {
                "err Protocol: ${e.message}"
            }
            println(reply)
            System.out.flush()
        }
    }

    /** `3`, `1..4` (1, 2, 3) or `5..` (from 5 on), as start and count (null: open-ended). */
    private fun range(text: String): Pair<Long, Long?> {
        if (!text.contains("..")) return text.toLong() to 1L
        val (start, end) = text.split("..")
        return start.toLong() to (if (end.isEmpty()) null else end.toLong() - start.toLong())
    }

    /** The range as a LongRange; an open-ended one reaches the largest index. */
    private fun span(text: String): LongRange {
        val (start, count) = range(text)
        return if (count == null) start..Long.MAX_VALUE else start until start + count
    }

    private fun bounded(text: String): LongRange {
        if (text.startsWith(NAME)) throw ProtocolException("needs numbered counters (a data slot per index), not $text")
        if (range(text).second == null) throw ProtocolException("needs a bounded range, not $text")
        return span(text)
    }

    /** A RANGE of the protocol: `name:NAME` for the lock of a name, else indices as [span] reads them. */
    private sealed interface Target

    private data class Named(val name: String) : Target

    private data class Indices(val range: LongRange) : Target

    private const val NAME = "name:"

    private fun target(text: String): Target = if (text.startsWith(NAME)) Named(text.removePrefix(NAME)) else Indices(span(text))

    private fun handle(words: List<String>): String {
        when (words[0]) {
            "pid" -> return ProcessHandle.current().pid().toString()
            "open" -> {
                val fair = words[2].endsWith("+fair")
                val scope = when (words[2].removeSuffix("+fair")) {
                    "process" -> Scope.PROCESS
                    "open-file" -> Scope.OPEN_FILE
                    else -> throw ProtocolException("bad scope ${words[2]}")
                }
                file = LocksFile.open(words[1], scope, fair = fair)
                return "ok"
            }
            "index-of" -> return LocksFile.indexOf(words[1]).toString()
            "stop-reading" -> {
                reading?.let { keep ->
                    reading = null
                    keep.stop()
                }
                return "ok"
            }
            "close" -> {
                try {
                    file?.close()
                } finally {
                    file = null // closed even when close reports an error
                }
                return "ok"
            }
            "channel-open" -> {
                channel = RandomAccessFile(words[1], "rw").channel
                return "ok"
            }
            "channel-lock" -> {
                val (start, count) = range(words[2])
                val shared = words[1] == "read"
                val size = count ?: (Long.MAX_VALUE - start)
                val lock = if (words[3] == "try") channel!!.tryLock(start, size, shared) else channel!!.lock(start, size, shared)
                return if (lock == null) "busy" else { channelLocks[words[2]] = lock; "ok" }
            }
            "channel-release" -> {
                channelLocks.remove(words[1])?.release()
                return "ok"
            }
        }
        val f = file ?: throw ProtocolException("no file is open")
        return when (words[0]) {
            "keep-reading" -> {
                if (reading != null) throw ProtocolException("already reading")
                val (index, seed, min, max) = words.subList(1, 5)
                reading = KeepReading.start(f.path, index.toLong(), seed.toULong(), min.toLong(), max.toLong())
                "ok"
            }
            "acquire" -> {
                val mode = if (words[1] == "write") LockMode.WRITE else LockMode.READ
                val target = target(words[2])
                when {
                    words[3] == "block" -> {
                        when (target) {
                            is Named -> f.acquire(target.name, mode)
                            is Indices -> f.acquire(target.range, mode)
                        }
                        "ok"
                    }
                    words[3] == "try" -> {
                        val ok = when (target) {
                            is Named -> f.tryAcquire(target.name, mode)
                            is Indices -> f.tryAcquire(target.range, mode)
                        }
                        if (ok) "ok" else "busy"
                    }
                    words[3].startsWith("timeout=") -> {
                        val timeout = words[3].substringAfter("=").toLong().milliseconds
                        val began = System.nanoTime()
                        val ok = when (target) {
                            is Named -> f.acquire(target.name, mode, timeout)
                            is Indices -> f.acquire(target.range, mode, timeout)
                        }
                        if (ok) "ok" else "timeout ${(System.nanoTime() - began) / 1_000_000}"
                    }
                    else -> throw ProtocolException("bad wait ${words[3]}")
                }
            }
            "release" -> {
                when (val target = target(words[1])) {
                    is Named -> f.release(target.name)
                    is Indices -> f.release(target.range)
                }
                "ok"
            }
            "release-all" -> { f.releaseAll(); "ok" }
            "held" -> (listOf("held") + f.held().map { h ->
                val r = when (h.count) { null -> "${h.start}.."; 1L -> "${h.start}"; else -> "${h.start}..${h.start + h.count}" }
                "$r:${h.mode.name.lowercase()}"
            }).joinToString(" ")
            "count" -> Data(words[1], write = true).use { data -> count(f, data, bounded(words[2]), words[3].toLong()) }
            "audit" -> Data(words[1], write = false).use { data -> audit(f, data, bounded(words[2]), words[3].toLong()) }
            "race" -> Data(words[1], write = true).use { data ->
                race(f, data, words[2].toLong(), words[3].toLong(), words[4].toLong(), Path.of(words[5]))
            }
            else -> throw ProtocolException("unknown command ${words.joinToString(" ")}")
        }
    }

    /** `times` increments, round-robin over the counters, each under its index's write lock. */
    private fun count(f: LocksFile, data: Data, counters: LongRange, times: Long): String {
        val size = counters.last - counters.first + 1
        for (turn in 0 until times) {
            val index = counters.first + turn % size
            f.acquire(index, LockMode.WRITE)
            val value = data.read(index * 16) + 1
            data.write(index * 16, value)
            Thread.yield() // widen the window in which a torn counter could be seen
            data.write(index * 16 + 8, value)
            f.release(index)
        }
        return "ok $times"
    }

    /** `times` looks at every counter of the range under one read lock: both copies must agree. */
    private fun audit(f: LocksFile, data: Data, counters: LongRange, times: Long): String {
        repeat(times.toInt()) {
            f.acquire(counters, LockMode.READ)
            val pairs = counters.map { i -> Triple(i, data.read(i * 16), data.read(i * 16 + 8)) }
            f.release(counters)
            pairs.firstOrNull { it.second != it.third }?.let { (i, a, b) -> return "torn $i $a $b" }
        }
        return "ok $times"
    }

    /** The seed's hand-over-hand race: take the next track's lock, then let go of this one. */
    private fun race(f: LocksFile, data: Data, racer: Long, tracks: Long, laps: Long, log: Path): String {
        val began = System.nanoTime()
        var waits = 0L
        val visits = StringBuilder()
        fun take(track: Long): Long {
            if (!f.tryAcquire(track, LockMode.WRITE)) {
                waits++
                f.acquire(track, LockMode.WRITE)
            }
            val visit = data.read(track * 8) + 1
            data.write(track * 8, visit)
            return visit
        }
        val total = tracks * laps
        visits.append("0 ${take(0)}\n")
        for (step in 1 until total) {
            val here = (step - 1) % tracks
            val next = step % tracks
            val visit = take(next)
            f.release(here)
            visits.append("$next $visit\n")
            data.write((tracks + racer) * 8, step)
        }
        f.releaseAll()
        data.write((tracks + racer) * 8, total)
        Files.writeString(log, visits)
        return "ok $total $waits ${(System.nanoTime() - began) / 1_000_000}"
    }

    /**
     * `keep-reading`: a thread that keeps lock [index] read-held through a fair handle of its own,
     * taking it again as soon as it lets go, with seeded hold times (the formula is in
     * tests/README.md). A daemon, so that `quit` ends the worker whatever it does.
     */
    private class KeepReading private constructor(private val locks: LocksFile, private val index: Long, seed: ULong, min: Long, max: Long) {
        @Volatile private var stopping = false
        private var failure: Throwable? = null
        private val thread = Thread {
            try {
                var state = seed
                while (true) {
                    state = state * 6364136223846793005uL + 1442695040888963407uL
                    Thread.sleep(min + ((state shr 33) % (max - min + 1).toULong()).toLong()) // the hold: the reader's work
                    locks.release(index)
                    if (stopping) break
                    locks.acquire(index, LockMode.READ)
                }
            } catch (e: Throwable) {
                failure = e
            } finally {
                locks.close()
            }
        }.apply { isDaemon = true; name = "keep-reading $index" }

        /** Lets go once it holds no more, and ends; rethrows what ended it otherwise. */
        fun stop() {
            stopping = true
            thread.join()
            failure?.let { throw it }
        }

        companion object {
            /** Returns once the thread's handle holds [index] the first time. */
            fun start(path: String, index: Long, seed: ULong, min: Long, max: Long): KeepReading {
                if (min < 0 || max < min) throw ProtocolException("bad hold times $min..$max")
                val locks = LocksFile.open(path, fair = true)
                try {
                    locks.acquire(index, LockMode.READ)
                } catch (e: Throwable) {
                    locks.close()
                    throw e
                }
                return KeepReading(locks, index, seed, min, max).also { it.thread.start() }
            }
        }
    }

    /** A data file of little-endian u64 slots (layout in tests/README.md), read and written in place. */
    private class Data(path: String, write: Boolean) : AutoCloseable {
        private val channel = if (write) {
            FileChannel.open(Path.of(path), StandardOpenOption.READ, StandardOpenOption.WRITE)
        } else {
            FileChannel.open(Path.of(path), StandardOpenOption.READ)
        }
        private val buffer = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)

        fun read(offset: Long): Long {
            buffer.clear()
            while (buffer.hasRemaining() && channel.read(buffer, offset + buffer.position()) > 0) {}
            return if (buffer.hasRemaining()) 0 else buffer.getLong(0)
        }

        fun write(offset: Long, value: Long) {
            buffer.clear()
            buffer.putLong(0, value)
            while (buffer.hasRemaining()) channel.write(buffer, offset + buffer.position())
        }

        override fun close() = channel.close()
    }
}
