package dev.locksfile

import com.sun.jna.Native

/**
 * The direct C call path for the hot operations (see bindings/ffi/src/fast_lane.rs, whose constants
 * bindings/ffi/tests/fast_lane_copies.rs checks these against), bound with JNA
 * direct mapping: uniffi's generated Kotlin builds a JNA `Structure` for the call status and clones
 * the object handle through a second native call on every method call. Errors are thrown by the
 * generated `raiseFastLaneError`, so they are the same exceptions as on the generated path.
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
        // The library the generated code loads (JNA finds linux-x86-64/liblocksfile_ffi.so in the jar).
        Native.register(FastLane::class.java, "locksfile_ffi")
    }

    @JvmStatic external fun locksfile_fast_acquire(token: Long, start: Long, count: Long, flags: Int): Int

    @JvmStatic external fun locksfile_fast_acquire_timeout(token: Long, start: Long, count: Long, flags: Int, timeoutSeconds: Double): Int

    @JvmStatic external fun locksfile_fast_release(token: Long, start: Long, count: Long, flags: Int): Int
}
