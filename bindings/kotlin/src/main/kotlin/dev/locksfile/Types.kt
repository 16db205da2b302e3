package dev.locksfile

import dev.locksfile.ffi.LockSpan
import dev.locksfile.ffi.checkRange

/** How a lock is held: [LockMode.READ] (shared) or [LockMode.WRITE] (exclusive). */
typealias LockMode = dev.locksfile.ffi.LockMode

/** Who owns the locks: [Scope.OPEN_FILE] (each handle; the default) or [Scope.PROCESS]. */
typealias Scope = dev.locksfile.ffi.Scope

/** The family of a kernel lock: process-owned, open-file-description, or flock. */
typealias LockClass = dev.locksfile.ffi.LockClass

/** A run of locks held in one mode; [count] is null for every lock from [start] on. */
data class Held(val start: Long, val count: Long?, val mode: LockMode)

/** A lock another owner holds, with the holding process when Linux can tell. */
data class Holder(val start: Long, val count: Long?, val mode: LockMode, val kind: LockClass, val pid: Int?)

/** The largest lock index: 2^63 - 1. */
const val MAX_INDEX: Long = Long.MAX_VALUE

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
    fun checked(): LockSpan = checkRange(start.toString(), if (toEnd) null else count.toULong().toString())

    companion object {
        /** The flags of a span given by a start and a count ([Long] indexes: signed). */
        const val INDEX = FastLane.START_SIGNED

        /** The flags of every lock from a start on. */
        const val FROM = FastLane.START_SIGNED or FastLane.TO_END

        /** The count of [range] (unsigned); an empty range has count 0, which the core reports as such. */
        fun count(range: LongRange): Long = if (range.isEmpty()) 0 else range.last - range.first + 1
    }
}
