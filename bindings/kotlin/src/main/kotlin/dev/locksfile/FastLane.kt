package dev.locksfile

import com.sun.jna.JNIEnv
import com.sun.jna.Library
import com.sun.jna.NativeLibrary

/**
 * The direct call path for the hot operations (bindings/ffi/src/fast_lane.rs, whose constants
 * bindings/ffi/tests/fast_lane_copies.rs checks these against), bound as JNI native methods: a JNI
 * call from compiled code costs tens of nanoseconds, where JNA's direct mapping costs hundreds and
 * uniffi's generated Kotlin builds a JNA `Structure` for the call status and clones the object
 * handle through a second native call. Errors are thrown by the generated `raiseFastLaneError`, so
 * they are the same exceptions as on the generated path.
 *
 * **One core per process.** The methods are bound to the library image that the generated bindings
 * use, never to a copy: JNA loads `linux-x86-64/liblocksfile_ffi.so` from the jar into a temporary
 * file and deletes that file once it is mapped, so `System.load` has no path to load (and any other
 * copy would be a second core, with its own handle table, fork generation and wake signal). Instead
 * this object asks that very JNA library for `locksfile_jni_register` and calls it with this thread's
 * `JNIEnv` and this class: it binds the methods below to its own image's JNI entry points
 * (bindings/ffi/src/jvm.rs), which call the C functions of the same names.
 */
internal object FastLane {
    const val DONE = 1
    const val NOT_ACQUIRED = 0
    const val FAILED = -1
    const val INTERRUPTED = -2

    const val WRITE = 1
    const val BLOCK = 2
    const val TO_END = 4
    const val START_SIGNED = 8

    init {
        // The generated code loads the library by this name (uniffi's override property first), with
        // its class loader, which is ours: JNA hands out the instance it already has for that pair.
        val name = System.getProperty("uniffi.component.locksfile.libraryOverride") ?: "locksfile_ffi"
        val library = NativeLibrary.getInstance(name, mapOf(Library.OPTION_CLASSLOADER to FastLane::class.java.classLoader))
        val status = library.getFunction("locksfile_jni_register")
            .invoke(Int::class.java, arrayOf(JNIEnv.CURRENT, FastLane::class.java), mapOf(Library.OPTION_ALLOW_OBJECTS to true))
        // A failure leaves the JVM's NoSuchMethodError pending, thrown as the call returns.
        check(status == 0) { "binding the direct call path failed: RegisterNatives returned $status" }
    }

    @JvmStatic external fun locksfile_fast_acquire(token: Long, start: Long, count: Long, flags: Int): Int

    @JvmStatic external fun locksfile_fast_acquire_timeout(token: Long, start: Long, count: Long, flags: Int, timeoutSeconds: Double): Int

    @JvmStatic external fun locksfile_fast_release(token: Long, start: Long, count: Long, flags: Int): Int

    /** The lock index of [name] (`locksfile::index_of`, as the UDL's `index_of`), or -1 when it has no UTF-8 form. */
    @JvmStatic external fun locksfile_index_of(name: String): Long
}
