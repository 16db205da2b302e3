package dev.locksfile.bench

import dev.locksfile.LockMode
import dev.locksfile.LocksFile
import java.io.BufferedReader
import java.io.File
import java.io.RandomAccessFile
import java.io.Writer
import java.nio.channels.FileChannel
import java.nio.channels.FileLock
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import java.util.concurrent.locks.LockSupport
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.runBlocking

/**
 * `cargo make bench-kotlin`:
 *
 * 1. acquire+release of one lock, uncontended, through the Kotlin API against
 *    `FileChannel.lock(i, 1, false)` + `release()` in the same JVM, after warm-up. Batches take
 *    turns, so drift on the machine affects all alike; the median batch counts.
 * 2. hand-off latency between two processes: a holder (this JVM, a `FileChannel` lock) releases lock
 *    0, and a waiter in another JVM, blocked in the kernel, returns; the latency is from just before
 *    the release to the waiter's return, both read with `System.nanoTime` (CLOCK_MONOTONIC on Linux,
 *    so comparable across processes). The floor is a waiter blocked in `FileChannel.lock(0, 1,
 *    false)`; then `LocksFile.acquire` (blocking), with a timeout, and `acquireSuspending`. Rounds are
 *    interleaved across the waiters; a waiter is seen queued in /proc/locks before each release;
 *    the holder runs on one CPU and the waiters on another (util-linux `taskset`).
 */
private const val BATCHES = 9
private const val BATCH_NANOS = 100_000_000L
private const val HANDOFF_ROUNDS = 200
private const val HANDOFF_WARMUP_ROUNDS = 20

private fun calibrate(pair: () -> Unit): Int {
    var calls = 64
    while (true) {
        val began = System.nanoTime()
        repeat(calls) { pair() }
        val took = System.nanoTime() - began
        if (took > BATCH_NANOS / 4) return maxOf(1, (calls.toLong() * BATCH_NANOS / took).toInt())
        calls *= 4
    }
}

// ----- hand-off: the waiting process -------------------------------------------------------------

/** How a waiter waits for lock 0, and how it lets go; each also warms its path up on lock 1. */
private class WaiterSide(val variant: String, path: String) {
    private val channel by lazy { RandomAccessFile(path, "rw").channel }
    private val locks by lazy { LocksFile.open(path) }

    fun take(index: Long): FileLock? = when (variant) {
        "channel" -> channel.lock(index, 1, false)
        "blocking" -> { locks.acquire(index, LockMode.WRITE); null }
        "timed" -> { check(locks.acquire(index, LockMode.WRITE, 30.seconds)) { "timed out" }; null }
        "suspending" -> { check(runBlocking { locks.acquireSuspending(index, LockMode.WRITE) }); null }
        else -> error("unknown variant $variant")
    }

    fun drop(index: Long, lock: FileLock?) = if (lock != null) lock.release() else locks.release(index)
}

/**
 * `BenchKt handoff-waiter VARIANT PATH`: warms its path up, says "warm"; then for each "go" on stdin
 * (the holder has lock 0), says "ready", waits for lock 0, reads the clock, lets go and writes the
 * time it got it.
 */
private fun handoffWaiter(variant: String, path: String) {
    val side = WaiterSide(variant, path)
    repeat(if (variant == "suspending") 2_000 else 20_000) { side.drop(1, side.take(1)) }
    println("warm")
    System.out.flush()
    while (readlnOrNull() == "go") {
        println("ready")
        System.out.flush()
        val lock = side.take(0)
        val got = System.nanoTime()
        side.drop(0, lock)
        println(got)
        System.out.flush()
    }
}

// ----- hand-off: the holder --------------------------------------------------------------------

/** A waiter process and the holder's side of its lock file. */
private class Waiter(val variant: String, val label: String, val kind: String, file: File) : AutoCloseable {
    private val channel: FileChannel = RandomAccessFile(file, "rw").channel
    private val inode = Files.getAttribute(file.toPath(), "unix:ino") as Long
    private var held: FileLock = channel.lock(0, 1, false)
    private val process: Process
    private val input: Writer
    private val output: BufferedReader
    val latencies = mutableListOf<Double>()

    init {
        val java = File(System.getProperty("java.home"), "bin/java").path
        val pinned = listOf("taskset", "-c", WAITER_CPU.toString())
        process = ProcessBuilder(pinned + listOf(java, "-cp", System.getProperty("java.class.path"), "dev.locksfile.bench.BenchKt", "handoff-waiter", variant, file.path))
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start()
        input = process.outputStream.bufferedWriter()
        output = process.inputStream.bufferedReader()
    }

    fun awaitWarm() = check(line() == "warm") { "$label: no warm-up" }

    private fun line(): String = output.readLine() ?: error("$label: the waiter ended")

    /** Whether a request waits in the kernel's queue for this file: a `->` line of /proc/locks with its inode. */
    private fun queued(): Boolean = File("/proc/locks").readLines().any { line ->
        val words = line.trim().split(Regex("\\s+"))
        words.size > 6 && words[1] == "->" && words[6].substringAfterLast(':').toLongOrNull() == inode
    }

    /** One hand-off: the waiter queues in the kernel, the holder releases, the waiter returns. */
    fun round(record: Boolean) {
        input.write("go\n")
        input.flush()
        check(line() == "ready") { "$label: not ready" }
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10)
        while (!queued()) {
            check(System.nanoTime() < deadline) { "$label: the waiter never queued" }
            LockSupport.parkNanos(100_000)
        }
        val released = System.nanoTime()
        held.release()
        val got = line().toLong()
        if (record) latencies += (got - released) / 1000.0
        held = channel.lock(0, 1, false) // The waiter has let go before it wrote the time.
    }

    override fun close() {
        input.close()
        check(process.waitFor(30, TimeUnit.SECONDS)) { "$label: the waiter did not end" }
        held.release()
        channel.close()
    }
}

/** The CPUs this JVM may run on (`taskset -p`: "pid N's current affinity list: 0,1"). */
private fun allowedCpus(): String = taskset("-p", "-c", ProcessHandle.current().pid().toString()).substringAfterLast(':').trim()

/** Runs util-linux `taskset` with `args`: its output. */
private fun taskset(vararg args: String): String {
    val process = ProcessBuilder(listOf("taskset") + args).redirectErrorStream(true).start()
    val output = process.inputStream.bufferedReader().readText()
    check(process.waitFor() == 0) { "taskset ${args.joinToString(" ")}: $output" }
    return output
}

/** Every thread of this JVM on `cpus` (a taskset list). */
private fun runOn(cpus: String) {
    taskset("-a", "-p", "-c", cpus, ProcessHandle.current().pid().toString())
}

/** The holder's CPU and the waiters' (the first and last this JVM may use). */
private val CPUS: List<Int> by lazy {
    allowedCpus().split(',').flatMap { part ->
        val bounds = part.split('-').map(String::toInt)
        (bounds.first()..bounds.last()).toList()
    }
}
private val HOLDER_CPU: Int get() = CPUS.first()
private val WAITER_CPU: Int get() = CPUS.last()

/**
 * The waiters' rounds take turns (drift on the machine affects them alike); this JVM runs on one
 * CPU and every waiter on another, so that each hand-off wakes a waiter on the other CPU (left to
 * the scheduler, some waiters settle on the holder's CPU and others not, and the two cases differ by
 * tens of µs on a small machine, far more than the waiters do).
 */
private fun handoff(dir: File): List<Waiter> {
    val before = allowedCpus()
    runOn(HOLDER_CPU.toString())
    try {
        return handoffPinned(dir)
    } finally {
        runOn(before)
    }
}

private fun handoffPinned(dir: File): List<Waiter> {
    val waiters = listOf(
        Waiter("channel", "FileChannel.lock(0,1,false) (baseline)", "floor", File(dir, "handoff-channel.lock")),
        Waiter("blocking", "LocksFile.acquire (blocking)", "api", File(dir, "handoff-blocking.lock")),
        Waiter("timed", "LocksFile.acquire(timeout) (kernel wait)", "api", File(dir, "handoff-timed.lock")),
        Waiter("suspending", "LocksFile.acquireSuspending", "api", File(dir, "handoff-suspending.lock")),
    )
    waiters.forEach { it.awaitWarm() }
    for (round in 0 until HANDOFF_WARMUP_ROUNDS + HANDOFF_ROUNDS) {
        for (turn in waiters.indices) waiters[(round + turn) % waiters.size].round(record = round >= HANDOFF_WARMUP_ROUNDS)
    }
    waiters.forEach { it.close() }
    return waiters
}

private fun percentile(samples: List<Double>, fraction: Double): Double = samples.sorted()[(samples.size * fraction).toInt().coerceAtMost(samples.size - 1)]

fun main(args: Array<String>) {
    if (args.size == 3 && args[0] == "handoff-waiter") return handoffWaiter(args[1], args[2])
    val dir = Files.createTempDirectory("locksfile-bench").toFile()
    val channel = RandomAccessFile(File(dir, "channel.lock"), "rw").channel
    val locks = LocksFile.open(File(dir, "kotlin.lock").path)
    val generated = dev.locksfile.ffi.LocksFile(
        File(dir, "generated.lock").path,
        dev.locksfile.ffi.OpenOptions(dev.locksfile.ffi.Scope.OPEN_FILE, true, 420u),
    )
    val index = 5L
    val pairs = linkedMapOf<String, () -> Unit>(
        "FileChannel.lock(i,1,false)+release (baseline)" to { channel.lock(index, 1, false).release() },
        "LocksFile.acquire+release" to { locks.acquire(index, LockMode.WRITE); locks.release(index) },
        "LocksFile.tryAcquire+release" to { locks.tryAcquire(index, LockMode.WRITE); locks.release(index) },
        "withWriteLock(i) {}" to { locks.withWriteLock(index) {} },
        "uniffi generated path (for contrast)" to {
            generated.tryAcquire(index.toULong(), 1uL, dev.locksfile.ffi.LockMode.WRITE); generated.release(index.toULong(), 1uL)
        },
    )
    // Warm-up: let the JIT compile every path.
    repeat(3) { pairs.values.forEach { pair -> repeat(20_000) { pair() } } }
    val sizes = pairs.mapValues { calibrate(it.value) }
    val times = pairs.keys.associateWith { mutableListOf<Double>() }
    repeat(BATCHES) {
        for ((name, pair) in pairs) {
            val n = sizes.getValue(name)
            val began = System.nanoTime()
            repeat(n) { pair() }
            times.getValue(name) += (System.nanoTime() - began).toDouble() / n / 1000.0
        }
    }
    val medians = times.mapValues { it.value.sorted()[BATCHES / 2] }
    val baseline = medians.values.first()
    println("acquire+release of one lock, uncontended (JVM ${System.getProperty("java.version")}; median of $BATCHES interleaved batches)")
    println("%-48s %9s %9s".format("", "µs/pair", "vs base"))
    for ((name, micros) in medians) println("%-48s %9.2f %8.2fx".format(name, micros, micros / baseline))
    locks.close()
    generated.close()
    channel.close()

    println()
    println(
        "hand-off latency between two processes ($HANDOFF_ROUNDS rounds each, interleaved, after $HANDOFF_WARMUP_ROUNDS; " +
            "holder on CPU $HOLDER_CPU, waiters on CPU $WAITER_CPU; µs from the holder's release to the waiter's return)",
    )
    val waiters = handoff(dir)
    val floorMedian = percentile(waiters.first().latencies, 0.5)
    println("%-48s %9s %9s %9s".format("waiter", "median", "p90", "vs base"))
    for (waiter in waiters) {
        val median = percentile(waiter.latencies, 0.5)
        println("%-48s %9.1f %9.1f %8.2fx".format(waiter.label, median, percentile(waiter.latencies, 0.9), median / floorMedian))
    }
    dir.deleteRecursively()
    // What was measured, for the report (scripts/bench-report documents the schema; cargo make
    // bench-kotlin sets the path and adds the date, machine and command).
    System.getenv("LOCKSFILE_BENCH_JSON")?.let { out ->
        fun q(text: String) = "\"" + text.replace("\\", "\\\\").replace("\"", "\\\"") + "\""
        fun ns(micros: Double) = String.format(java.util.Locale.ROOT, "%.1f", micros * 1000)
        val floor = medians.keys.first()
        val entries = medians.keys.joinToString(",\n") { name ->
            val kind = if (name == floor) "floor" else if ("contrast" in name) "contrast" else "api"
            val samples = times.getValue(name).joinToString(", ") { ns(it) }
            "      {\"name\": ${q(name)}, \"kind\": \"$kind\", \"median_ns\": ${ns(medians.getValue(name))}, \"samples_ns\": [$samples]}"
        }
        fun us(micros: Double) = String.format(java.util.Locale.ROOT, "%.2f", micros)
        val handoffEntries = waiters.joinToString(",\n") { waiter ->
            "      {\"name\": ${q(waiter.label)}, \"kind\": \"${waiter.kind}\", \"median_us\": ${us(percentile(waiter.latencies, 0.5))}, " +
                "\"p90_us\": ${us(percentile(waiter.latencies, 0.9))}, \"samples_us\": [${waiter.latencies.joinToString(", ") { us(it) }}]}"
        }
        File(out).writeText(
            "{\n  \"schema\": 1,\n  \"language\": \"kotlin\",\n  \"runtime\": ${q("JVM " + System.getProperty("java.version"))},\n" +
                "  \"pairs\": {\n    \"what\": \"acquire+release of one lock, uncontended\",\n    \"batches\": $BATCHES,\n" +
                "    \"floor\": ${q(floor)},\n    \"entries\": [\n$entries\n    ]\n  },\n" +
                "  \"handoff\": {\n    \"what\": \"release to the waiter's return\",\n    \"rounds\": $HANDOFF_ROUNDS,\n" +
                "    \"floor\": ${q(waiters.first().label)},\n    \"entries\": [\n$handoffEntries\n    ]\n  }\n}\n",
        )
        println("results: $out")
    }
}
