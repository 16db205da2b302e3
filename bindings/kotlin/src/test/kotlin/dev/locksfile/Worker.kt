package dev.locksfile

import dev.locksfile.ffi.LocksFileException

import java.io.RandomAccessFile
import java.nio.channels.FileChannel
import java.nio.channels.FileLock
import kotlin.time.Duration.Companion.milliseconds

/**
 * A worker process for the tests, speaking the project's worker protocol on stdin/stdout (one reply
 * line per command): `open PATH open-file|process`, `acquire read|write RANGE block|try|timeout=MS`,
 * `release RANGE`, `release-all`, `held`, `pid`, `quit`; and, with plain `java.nio` only (this
 * library untouched), `channel-lock read|write RANGE try|block` / `channel-release RANGE` on
 * `channel-open PATH`. RANGE is `3`, `1..4` (1, 2, 3) or `5..`.
 */
object Worker {
    private var file: LocksFile? = null
    private var channel: FileChannel? = null
    private val channelLocks = mutableMapOf<String, FileLock>()

    @JvmStatic
    fun main(args: Array<String>) {
        while (true) {
            val line = readLine() ?: break
            val words = line.trim().split(Regex("\\s+"))
            if (words.first() == "quit") break
            val reply = try {
                handle(words)
            } catch (e: LocksFileException) {
                "err ${e::class.simpleName}: ${e.message}"
            }
            println(reply)
            System.out.flush()
        }
    }

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

    private fun handle(words: List<String>): String {
        val f = file
        return when (words[0]) {
            "pid" -> ProcessHandle.current().pid().toString()
            "open" -> {
                file = LocksFile.open(words[1], if (words[2] == "process") Scope.PROCESS else Scope.OPEN_FILE)
                "ok"
            }
            "channel-open" -> {
                channel = RandomAccessFile(words[1], "rw").channel
                "ok"
            }
            "channel-lock" -> {
                val (start, count) = range(words[2])
                val shared = words[1] == "read"
                val size = count ?: Long.MAX_VALUE - start
                val lock = if (words[3] == "try") channel!!.tryLock(start, size, shared) else channel!!.lock(start, size, shared)
                if (lock == null) "busy" else { channelLocks[words[2]] = lock; "ok" }
            }
            "channel-release" -> {
                channelLocks.remove(words[1])?.release()
                "ok"
            }
            "acquire" -> {
                val mode = if (words[1] == "write") LockMode.WRITE else LockMode.READ
                val span = span(words[2])
                when {
                    words[3] == "block" -> { f!!.acquire(span, mode); "ok" }
                    words[3] == "try" -> if (f!!.tryAcquire(span, mode)) "ok" else "busy"
                    else -> {
                        val ms = words[3].substringAfter("=").toLong()
                        val began = System.nanoTime()
                        val ok = f!!.acquire(span, mode, ms.milliseconds)
                        if (ok) "ok" else "timeout ${(System.nanoTime() - began) / 1_000_000}"
                    }
                }
            }
            "release" -> { f!!.release(span(words[1])); "ok" }
            "release-all" -> { f!!.releaseAll(); "ok" }
            "held" -> (listOf("held") + f!!.held().map { h ->
                val r = when (h.count) { null -> "${h.start}.."; 1L -> "${h.start}"; else -> "${h.start}..${h.start + h.count}" }
                "$r:${h.mode.name.lowercase()}"
            }).joinToString(" ")
            else -> "err unknown command ${words[0]}"
        }
    }
}
