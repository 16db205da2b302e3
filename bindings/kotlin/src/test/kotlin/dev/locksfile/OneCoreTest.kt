package dev.locksfile

import com.sun.jna.Library
import com.sun.jna.NativeLibrary
import com.sun.jna.Pointer
import java.io.File
import java.nio.file.Files
import java.util.concurrent.TimeUnit
import java.util.jar.JarEntry
import java.util.jar.JarOutputStream
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Test

/**
 * One core per process (issue 12): the JNI hot path is bound to the very library image that the
 * generated bindings load through JNA, never to a second copy. Checked in this JVM (the library
 * loaded in place from the classes directory) and in JVMs that load it from a jar, as users do
 * (JNA extracts it to a temporary file and deletes the file), with either side loading it first.
 */
class OneCoreTest {
    private val dir: File = Files.createTempDirectory("locksfile-one-core").toFile()

    @AfterEach
    fun cleanUp() {
        dir.deleteRecursively()
    }

    @Test
    fun `the direct path and the generated bindings share one mapped library`() {
        val report = OneCoreProbe.run(File(dir, "test.lock"))
        println("in this JVM: $report")
        assertEquals("one copy", report.substringBefore(":"), report)
    }

    @Test
    fun `loaded from a jar, the process still maps one copy, whichever side loads first`() {
        // A jar holding only the library, first on the class path: JNA finds it there, as in the
        // released jar, and not in the classes directory.
        val jar = File(dir, "native.jar")
        val library = File(System.getProperty("java.class.path").split(File.pathSeparator).first { File(it, NATIVE).isFile }, NATIVE)
        JarOutputStream(jar.outputStream()).use { out ->
            out.putNextEntry(JarEntry(NATIVE))
            library.inputStream().use { it.copyTo(out) }
            out.closeEntry()
        }
        for (order in listOf("generated-first", "fast-lane-first")) {
            val java = File(System.getProperty("java.home"), "bin/java").path
            val classpath = jar.path + File.pathSeparator + System.getProperty("java.class.path")
            val process = ProcessBuilder(java, "-cp", classpath, OneCoreProbe::class.java.name, File(dir, "$order.lock").path, order)
                .redirectErrorStream(true)
                .start()
            val output = process.inputStream.bufferedReader().readText().trim()
            assertTrue(process.waitFor(60, TimeUnit.SECONDS))
            println("from a jar, $order: $output")
            assertEquals(0, process.exitValue(), output)
            assertTrue(output.startsWith("one copy:"), output)
            assertTrue("(deleted)" in output, "JNA loads a temporary copy it deletes: $output")
        }
    }

    private companion object {
        const val NATIVE = "linux-x86-64/liblocksfile_ffi.so"
    }
}

/** Uses both paths on one handle, then counts the copies of the library in `/proc/self/maps`. */
object OneCoreProbe {
    /** "one copy: PATH" or "N copies: PATHS". */
    fun run(path: File): String {
        LocksFile.open(path.path).use { locks ->
            // The token comes from the generated path; the direct path finds it only in the same
            // core's handle table (a second copy would answer Closed).
            locks.acquire(3, LockMode.WRITE)
            check(locks.tryAcquire(4, LockMode.READ))
            check(locks.acquire(5L..6L, LockMode.WRITE, kotlin.time.Duration.INFINITE))
            check(locks.held() == listOf(Held(3, 1, LockMode.WRITE), Held(4, 1, LockMode.READ), Held(5, 2, LockMode.WRITE)))
            locks.release(3L..6L)
            check(locks.held().isEmpty())
        }
        return copies()
    }

    /**
     * The mapped files laid out like the one holding `locksfile_fast_acquire` as the generated
     * bindings' JNA library resolves it: the same segments at the same offsets, whatever the file's
     * name (JNA's temporary copies are named jnaNNN.tmp).
     */
    private fun copies(): String {
        val name = System.getProperty("uniffi.component.locksfile.libraryOverride") ?: "locksfile_ffi"
        val library = NativeLibrary.getInstance(name, mapOf(Library.OPTION_CLASSLOADER to LocksFile::class.java.classLoader))
        val address = Pointer.nativeValue(library.getFunction("locksfile_fast_acquire"))
        class Mapping(val start: Long, val end: Long, val perms: String, val offset: Long, val file: String, val path: String)
        val mappings = File("/proc/self/maps").readLines().mapNotNull { line ->
            val fields = line.split(Regex("\\s+"), limit = 6)
            if (fields.size < 6 || fields[4] == "0" || !fields[5].startsWith("/")) return@mapNotNull null
            val (start, end) = fields[0].split("-").map { java.lang.Long.parseUnsignedLong(it, 16) }
            Mapping(start, end, fields[1], fields[2].toLong(16), "${fields[3]}:${fields[4]}", fields[5])
        }
        val byFile = mappings.groupBy { it.file }
        fun layout(file: String) = byFile.getValue(file).map { Triple(it.perms, it.offset, it.end - it.start) }.sortedBy { it.second }
        val ours = mappings.single { address >= it.start && address < it.end }.file
        val copies = byFile.keys.filter { it == ours || layout(it) == layout(ours) } +
            byFile.keys.filter { file -> byFile.getValue(file).any { "locksfile_ffi" in it.path } && file != ours }
        val paths = copies.distinct().map { byFile.getValue(it).first().path }
        return if (paths.size == 1) "one copy: ${paths.single()}" else "${paths.size} copies: $paths"
    }

    /** A JVM of its own: `PATH generated-first|fast-lane-first`. */
    @JvmStatic
    fun main(args: Array<String>) {
        when (args[1]) {
            "generated-first" -> dev.locksfile.ffi.maxIndex()
            "fast-lane-first" -> Class.forName("dev.locksfile.FastLane") // Its initializer binds the methods.
            else -> error("unknown order ${args[1]}")
        }
        println(run(File(args[0])))
    }
}
