package dev.locksfile

import dev.locksfile.ffi.LocksFileException

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
 * A validated span of locks: `count` locks from `start`, or every lock from `start` on (`count` 0,
 * as the direct call path encodes it). Counts are unsigned: `0L..Long.MAX_VALUE` has 2^63 locks.
 */
internal class Span private constructor(val start: Long, val count: Long) {

    fun describe(): String = when {
        count == 0L -> "$start.."
        count == 1L -> "$start"
        else -> "$start..${start + count - 1}"
    }

    companion object {
        fun of(index: Long): Span {
            if (index < 0) throw invalid(index, 1uL, "the index must not be negative")
            return Span(index, 1)
        }

        fun of(range: LongRange): Span {
            if (range.first < 0) throw invalid(range.first, null, "the range must not start below 0 ($range)")
            if (range.isEmpty()) throw invalid(range.first, 0uL, "the range is empty ($range)")
            return Span(range.first, range.last - range.first + 1)
        }

        fun of(range: IntRange): Span = of(range.first.toLong()..range.last.toLong())

        fun from(start: Long): Span {
            if (start < 0) throw invalid(start, null, "the start must not be negative")
            return Span(start, 0)
        }

        private fun invalid(start: Long, count: ULong?, reason: String) = LocksFileException.InvalidRange(
            start.toULong(),
            count,
            "invalid lock range (start $start, count ${count ?: "open-ended"}): $reason",
        )
    }
}
