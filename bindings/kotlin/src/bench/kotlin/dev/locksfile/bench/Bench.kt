package dev.locksfile.bench

import dev.locksfile.LockMode
import dev.locksfile.LocksFile
import dev.locksfile.ffi.OpenOptions
import dev.locksfile.ffi.Scope
import java.io.File
import java.io.RandomAccessFile
import java.nio.file.Files

/**
 * `cargo make bench-kotlin`: acquire+release of one lock, uncontended, through the Kotlin API against
 * `FileChannel.lock(i, 1, false)` + `release()` in the same JVM, after warm-up. Batches take turns,
 * so drift on the machine affects all alike; the median batch counts.
 */
private const val BATCHES = 9
private const val BATCH_NANOS = 100_000_000L

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

fun main() {
    val dir = Files.createTempDirectory("locksfile-bench").toFile()
    val channel = RandomAccessFile(File(dir, "channel.lock"), "rw").channel
    val locks = LocksFile.open(File(dir, "kotlin.lock").path)
    val generated = dev.locksfile.ffi.LocksFile(File(dir, "generated.lock").path, OpenOptions(Scope.OPEN_FILE, true, 420u))
    val index = 5L
    val pairs = linkedMapOf<String, () -> Unit>(
        "FileChannel.lock(i,1,false)+release (baseline)" to { channel.lock(index, 1, false).release() },
        "LocksFile.acquire+release" to { locks.acquire(index, LockMode.WRITE); locks.release(index) },
        "LocksFile.tryAcquire+release" to { locks.tryAcquire(index, LockMode.WRITE); locks.release(index) },
        "withWriteLock(i) {}" to { locks.withWriteLock(index) {} },
        "uniffi generated path (for contrast)" to {
            generated.tryAcquire(index.toULong(), 1uL, LockMode.WRITE); generated.release(index.toULong(), 1uL)
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
        File(out).writeText(
            "{\n  \"schema\": 1,\n  \"language\": \"kotlin\",\n  \"runtime\": ${q("JVM " + System.getProperty("java.version"))},\n" +
                "  \"pairs\": {\n    \"what\": \"acquire+release of one lock, uncontended\",\n    \"batches\": $BATCHES,\n" +
                "    \"floor\": ${q(floor)},\n    \"entries\": [\n$entries\n    ]\n  }\n}\n",
        )
        println("results: $out")
    }
}
