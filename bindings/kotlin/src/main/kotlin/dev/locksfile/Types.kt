package dev.locksfile

import dev.locksfile.ffi.LockSpan
import dev.locksfile.ffi.checkRange
import dev.locksfile.ffi.LockClass as NativeLockClass
import dev.locksfile.ffi.LockMode as NativeLockMode
import dev.locksfile.ffi.Scope as NativeScope

// The public types are this package's own classes, so Kotlin and Java users import `dev.locksfile`
// only (a Kotlin typealias of a generated class does not exist for Java). Each mirrors a type of the
// interface definition (bindings/ffi/src/locksfile.udl); the conversions below are exhaustive `when`s,
// so the compiler rejects a variant added on one side only, and SurfaceTest checks the names agree.
// The conversions are @JvmSynthetic: internal in Kotlin, hidden from Java too.

/** How a lock is held. */
enum class LockMode {
    /** Shared: any number of owners may hold it at once. */
    READ,

    /** Exclusive: one owner holds it, and nobody else holds it in any mode. */
    WRITE,
}

/** Who owns the locks a handle takes. */
enum class Scope {
    /**
     * Open-file-description locks (the default): each handle is its own owner; handles and threads
     * exclude each other like processes do. No deadlock detection.
     */
    OPEN_FILE,

    /**
     * Classic POSIX locks owned by the process: the kernel detects deadlocks between processes. All
     * handles of one file in a process share the locks and never exclude each other.
     */
    PROCESS,
}

/** The family of a kernel lock. */
enum class LockClass {
    /** A classic POSIX record lock, owned by a process. */
    PROCESS,

    /** An open-file-description lock. */
    OPEN_FILE,

    /** A whole-file flock(2) lock. */
    FLOCK,
}

/** A run of locks held in one mode; [count] is null for every lock from [start] on. */
data class Held(val start: Long, val count: Long?, val mode: LockMode)

/** A lock another owner holds, with the holding process when Linux can tell. */
data class Holder(val start: Long, val count: Long?, val mode: LockMode, val kind: LockClass, val pid: Int?)

@JvmSynthetic
internal fun LockMode.toNative(): NativeLockMode = when (this) {
    LockMode.READ -> NativeLockMode.READ
    LockMode.WRITE -> NativeLockMode.WRITE
}

@JvmSynthetic
internal fun NativeLockMode.toPublic(): LockMode = when (this) {
    NativeLockMode.READ -> LockMode.READ
    NativeLockMode.WRITE -> LockMode.WRITE
}

@JvmSynthetic
internal fun Scope.toNative(): NativeScope = when (this) {
    Scope.OPEN_FILE -> NativeScope.OPEN_FILE
    Scope.PROCESS -> NativeScope.PROCESS
}

@JvmSynthetic
internal fun NativeScope.toPublic(): Scope = when (this) {
    NativeScope.OPEN_FILE -> Scope.OPEN_FILE
    NativeScope.PROCESS -> Scope.PROCESS
}

@JvmSynthetic
internal fun NativeLockClass.toPublic(): LockClass = when (this) {
    NativeLockClass.PROCESS -> LockClass.PROCESS
    NativeLockClass.OPEN_FILE -> LockClass.OPEN_FILE
    NativeLockClass.FLOCK -> LockClass.FLOCK
}

@JvmSynthetic
internal fun LockClass.toNative(): NativeLockClass = when (this) {
    LockClass.PROCESS -> NativeLockClass.PROCESS
    LockClass.OPEN_FILE -> NativeLockClass.OPEN_FILE
    LockClass.FLOCK -> NativeLockClass.FLOCK
}

/**
 * A span of locks as the direct call path takes it: [count] locks from [start], or every lock from
 * [start] on ([FastLane.TO_END] in [flags]). Not checked here: the core validates every range and
 * words its errors (a negative start, a count of 0). Counts are unsigned: `0L..Long.MAX_VALUE` has
 * 2^63 locks. The hot calls pass the three fields as they are; an object is made only for the
 * generated path's calls and for messages.
 */
internal class Span(val start: Long, val count: Long, val flags: Int) {
    val toEnd: Boolean get() = flags and FastLane.TO_END != 0

    fun describe(): String = when {
        toEnd -> "$start.."
        count == 1L -> "$start"
        else -> "$start..${start + (count - 1)}"
    }

    /** The span as the core validates it, for the generated path (a count may not fit a [Long]). */
    fun checked(): LockSpan = converting { checkRange(start.toString(), if (toEnd) null else count.toULong().toString()) }

    companion object {
        /** The flags of a span given by a start and a count ([Long] indexes: signed). */
        const val INDEX = FastLane.START_SIGNED

        /** The flags of every lock from a start on. */
        const val FROM = FastLane.START_SIGNED or FastLane.TO_END

        /** The count of [range] (unsigned); an empty range has count 0, which the core reports as such. */
        fun count(range: LongRange): Long = if (range.isEmpty()) 0 else range.last - range.first + 1

        /** The count of [range]; an empty range has count 0. */
        fun count(range: IntRange): Long = if (range.isEmpty()) 0 else range.last.toLong() - range.first + 1
    }
}
