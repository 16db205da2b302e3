package dev.locksfile

import java.io.File
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/** A [Worker] in its own JVM, driven by a test: assertions about exclusion come from outside. */
class WorkerProcess(path: File?, scope: Scope = Scope.OPEN_FILE, fair: Boolean = false) : AutoCloseable {
    private val process: Process
    private val replies = LinkedBlockingQueue<String>()

    init {
        val java = File(System.getProperty("java.home"), "bin/java").path
        val classpath = System.getProperty("java.class.path")
        process = ProcessBuilder(java, "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-cp", classpath, "dev.locksfile.Worker")
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start()
        Thread {
            process.inputStream.bufferedReader().forEachLine { replies.put(it) }
        }.apply { isDaemon = true }.start()
        if (path != null) {
            val word = (if (scope == Scope.PROCESS) "process" else "open-file") + (if (fair) "+fair" else "")
            check(ask("open $path $word") == "ok")
        }
    }

    val pid: Long get() = process.pid()

    fun send(command: String) {
        process.outputStream.write("$command\n".toByteArray())
        process.outputStream.flush()
    }

    fun reply(): String = replies.poll(30, TimeUnit.SECONDS) ?: error("worker $pid gave no reply")

    fun ask(command: String): String {
        send(command)
        return reply()
    }

    fun canTake(mode: String, range: String): Boolean = when (val reply = ask("acquire $mode $range try")) {
        "ok" -> { check(ask("release $range") == "ok"); true }
        "busy" -> false
        else -> error("unexpected reply $reply")
    }

    fun kill() {
        process.destroyForcibly().waitFor()
    }

    override fun close() {
        runCatching { send("quit") }
        if (!process.waitFor(5, TimeUnit.SECONDS)) kill()
    }
}
