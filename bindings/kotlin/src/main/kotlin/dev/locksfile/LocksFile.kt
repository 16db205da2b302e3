package dev.locksfile

import java.lang.ref.Reference
import java.nio.file.Path
import kotlin.time.Duration
import kotlin.time.DurationUnit
import kotlin.time.toKotlinDuration
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runInterruptible
import dev.locksfile.ffi.LocksFile as NativeLocksFile
import dev.locksfile.ffi.LocksFileException
import dev.locksfile.ffi.OpenOptions as NativeOptions

/**
 * An open lock file: lock `i` is byte `i` of the file. Any process may open the same file and take
 * locks by index, shared ([LockMode.READ]) or exclusive ([LockMode.WRITE]), one index or a
 * [LongRange] in one atomic call; the kernel frees a dead process's locks.
 *
 * ```
 * LocksFile.open("/tmp/data.lock").use { locks ->
 *     locks.withWriteLock(1L..3L) { /* locks 1, 2, 3 exclusive */ }
 *     locks.read(0).use { /* lock 0 shared */ }
 * }
 * ```
 *
 * **Close it.** The handle's lifetime is yours to end with [close] (or `use {}`): closing releases
 * every lock it holds. The garbage collector eventually frees a forgotten handle's native memory,
 * but a lock must never wait for a collection: do not rely on it.
 *
 * Thread-safe: threads may share a handle (they share its locks). A thread blocked in an acquire
 * leaves it with an [InterruptedException] soon after [Thread.interrupt], holding nothing new, and
 * with `LocksFileException.Closed` when another thread closes the handle.
 *
 * Ranges and timeouts are checked by the native core, which throws
 * `LocksFileException.InvalidRange` (a negative index, an empty range) and
 * `LocksFileException.InvalidTimeout` (a negative timeout) with the same words in every language.
 */
class LocksFile private constructor(
    private val native: NativeLocksFile,
    /** The path the file was opened by. */
    val path: String,
    /** Who owns the locks. */
    val scope: Scope,
) : AutoCloseable {
    private val token: Long = native.fastLaneToken().toLong()

    /** Whether write locks can be taken (the file opened read-write). */
    val isWritable: Boolean get() = native.isWritable()

    companion object {
        /** How long one kernel wait lasts before a blocked thread checks for [Thread.interrupt], in seconds. */
        private const val SLICE_SECONDS = 0.05

        /**
         * Opens (or creates, with permission bits [mode] less the umask; never truncates) the lock
         * file at [path]: read-write, or read-only when it is not writable.
         *
         * @throws LocksFileException.NotFound, LocksFileException.MissingDirectory,
         *   LocksFileException.IsDirectory, LocksFileException.Io (all in `dev.locksfile.ffi`)
         */
        @JvmStatic
        @JvmOverloads
        fun open(path: String, scope: Scope = Scope.OPEN_FILE, create: Boolean = true, mode: Int = 420): LocksFile {
            require(mode in 0..0xFFF) { "mode must be permission bits from 0 to 0o7777, got $mode" }
            val native = NativeLocksFile(path, NativeOptions(scope, create, mode.toUInt()))
            return LocksFile(native, path, scope)
        }

        /** Opens the lock file at [path]; see the `String` overload. */
        @JvmStatic
        @JvmOverloads
        fun open(path: Path, scope: Scope = Scope.OPEN_FILE, create: Boolean = true, mode: Int = 420): LocksFile =
            open(path.toString(), scope, create, mode)
    }

    // ----- acquiring ---------------------------------------------------------------------------

    /** Takes lock [index] in [mode], waiting as long as it takes; converts a held lock in place. */
    fun acquire(index: Long, mode: LockMode) = acquireBlocking(index, 1, Span.INDEX or mode.flag())

    /** Takes every lock of [range] in [mode] (all or none), waiting as long as it takes. */
    fun acquire(range: LongRange, mode: LockMode) = acquireBlocking(range.first, Span.count(range), Span.INDEX or mode.flag())

    /** Takes every lock from [start] on in [mode], waiting as long as it takes. */
    fun acquireFrom(start: Long, mode: LockMode) = acquireBlocking(start, 0, Span.FROM or mode.flag())

    /** Takes lock [index] if no other owner is in the way: false on conflict. */
    fun tryAcquire(index: Long, mode: LockMode): Boolean = tryAcquire(index, 1, Span.INDEX or mode.flag())

    /** Takes [range] if no other owner is in the way: false on conflict. */
    fun tryAcquire(range: LongRange, mode: LockMode): Boolean = tryAcquire(range.first, Span.count(range), Span.INDEX or mode.flag())

    /**
     * Takes lock [index], waiting at most [timeout] ([Duration.INFINITE]: no limit): false at the
     * deadline, holding nothing new.
     */
    fun acquire(index: Long, mode: LockMode, timeout: Duration): Boolean = acquireTimed(index, 1, Span.INDEX or mode.flag(), timeout)

    /** Takes [range], waiting at most [timeout]: false at the deadline, holding nothing new. */
    fun acquire(range: LongRange, mode: LockMode, timeout: Duration): Boolean =
        acquireTimed(range.first, Span.count(range), Span.INDEX or mode.flag(), timeout)

    /** Takes lock [index], waiting at most [timeout] (a `java.time.Duration`). */
    fun acquire(index: Long, mode: LockMode, timeout: java.time.Duration): Boolean =
        acquireTimed(index, 1, Span.INDEX or mode.flag(), timeout.toKotlinDuration())

    /** Takes [range], waiting at most [timeout] (a `java.time.Duration`). */
    fun acquire(range: LongRange, mode: LockMode, timeout: java.time.Duration): Boolean =
        acquireTimed(range.first, Span.count(range), Span.INDEX or mode.flag(), timeout.toKotlinDuration())

    /**
     * Takes [range] in [mode] without blocking the caller's dispatcher: the wait runs on
     * [Dispatchers.IO], in the kernel's queue. Cancellation ends the wait promptly and leaves nothing
     * new held. With a [timeout], false at the deadline.
     */
    suspend fun acquireSuspending(range: LongRange, mode: LockMode, timeout: Duration? = null): Boolean {
        val start = range.first
        val count = Span.count(range)
        val flags = Span.INDEX or mode.flag()
        // A try on the caller's thread; with the caller's timeout (at most 0), so the core checks it first.
        val seconds = timeout?.toDouble(DurationUnit.SECONDS) ?: Double.POSITIVE_INFINITY
        if (waitOnce(start, count, flags, minOf(seconds, 0.0)) == FastLane.DONE) return true
        var acquired = false
        try {
            return runInterruptible(Dispatchers.IO) {
                acquired = if (timeout == null) { acquireBlocking(start, count, flags); true } else acquireTimed(start, count, flags, timeout)
                acquired
            }
        } catch (cancelled: CancellationException) {
            if (acquired) release(start, count, flags) // Granted just as the coroutine was cancelled: give it back.
            throw cancelled
        }
    }

    /** Takes lock [index] like the [LongRange] overload. */
    suspend fun acquireSuspending(index: Long, mode: LockMode, timeout: Duration? = null): Boolean =
        acquireSuspending(index..index, mode, timeout)

    // ----- guards ------------------------------------------------------------------------------

    /** Takes lock [index] shared; the guard releases it (`use {}`). */
    fun read(index: Long): LockGuard = guard(index, 1, Span.INDEX or LockMode.READ.flag())

    /** Takes [range] shared; the guard releases it (`use {}`). */
    fun read(range: LongRange): LockGuard = guard(range.first, Span.count(range), Span.INDEX or LockMode.READ.flag())

    /** Takes lock [index] exclusive; the guard releases it (`use {}`). */
    fun write(index: Long): LockGuard = guard(index, 1, Span.INDEX or LockMode.WRITE.flag())

    /** Takes [range] exclusive; the guard releases it (`use {}`). */
    fun write(range: LongRange): LockGuard = guard(range.first, Span.count(range), Span.INDEX or LockMode.WRITE.flag())

    // The with-functions hold the locks without a guard object (nothing to allocate, whether or not
    // the JIT inlines far enough to drop one), releasing them as `use {}` closes a guard.

    /** Runs [action] holding lock [index] shared, releasing it on every exit path. */
    inline fun <T> withReadLock(index: Long, action: () -> T): T {
        acquire(index, LockMode.READ)
        return holding({ release(index) }, action)
    }

    /** Runs [action] holding [range] shared. */
    inline fun <T> withReadLock(range: LongRange, action: () -> T): T {
        acquire(range, LockMode.READ)
        return holding({ release(range) }, action)
    }

    /** Runs [action] holding [range] shared. */
    inline fun <T> withReadLock(range: IntRange, action: () -> T): T = withReadLock(range.toLongRange(), action)

    /** Runs [action] holding lock [index] exclusive, releasing it on every exit path. */
    inline fun <T> withWriteLock(index: Long, action: () -> T): T {
        acquire(index, LockMode.WRITE)
        return holding({ release(index) }, action)
    }

    /** Runs [action] holding [range] exclusive. */
    inline fun <T> withWriteLock(range: LongRange, action: () -> T): T {
        acquire(range, LockMode.WRITE)
        return holding({ release(range) }, action)
    }

    /** Runs [action] holding [range] exclusive. */
    inline fun <T> withWriteLock(range: IntRange, action: () -> T): T = withWriteLock(range.toLongRange(), action)

    // ----- releasing ---------------------------------------------------------------------------

    /** Releases lock [index] (idempotent). */
    fun release(index: Long) = release(index, 1, Span.INDEX)

    /** Releases whatever this handle holds in [range]. */
    fun release(range: LongRange) = release(range.first, Span.count(range), Span.INDEX)

    /** Releases every lock from [start] on. */
    fun releaseFrom(start: Long) = release(start, 0, Span.FROM)

    /** Releases everything this handle holds. */
    fun releaseAll() = native.releaseAll()

    // ----- introspection -----------------------------------------------------------------------

    /** What this handle holds, as coalesced runs in index order. */
    fun held(): List<Held> = native.held().map { Held(it.start.toLong(), it.count?.toLong(), it.mode) }

    /** The mode this handle holds lock [index] in, or null. */
    fun modeOf(index: Long): LockMode? = native.modeOf(Span(index, 1, Span.INDEX).checked().start)

    /** The locks other owners hold overlapping [range] (default: all), with their processes. */
    fun holders(range: LongRange = 0L..Long.MAX_VALUE): List<Holder> {
        val span = Span(range.first, Span.count(range), Span.INDEX).checked()
        return native.holders(span.start, span.count).map {
            Holder(it.start.toLong(), it.count?.toLong(), it.mode, it.kind, it.pid?.toInt())
        }
    }

    /** Whether the path no longer names the open file (deleted or replaced). */
    fun isStale(): Boolean = native.isStale()

    /**
     * Releases every lock and closes the file; an acquire waiting on this handle in another thread
     * ends with `LocksFileException.Closed`, holding nothing new, before this returns. Idempotent;
     * later calls throw `Closed`. Throws `LocksFileException.NoLocksAvailable` only in
     * [Scope.PROCESS], when the kernel cannot split a lock (the file is closed all the same).
     */
    override fun close() = native.closeFile()

    override fun toString() = "LocksFile($path, $scope)"

    // ----- the direct call path ----------------------------------------------------------------
    // A span travels as three primitives, never as an object: `start`, `count` and `flags` as
    // `fast_lane.rs` takes them (`Span.INDEX` or `Span.FROM`, plus `FastLane.WRITE` for the mode),
    // so the hot calls allocate nothing, whether or not the JIT's escape analysis would have removed
    // an object. The core validates every range.

    internal fun tryAcquire(start: Long, count: Long, flags: Int): Boolean {
        while (true) {
            val status = FastLane.locksfile_fast_acquire(token, start, count, flags)
            Reference.reachabilityFence(this) // The token names the native handle only while this one is reachable.
            if (status == FastLane.DONE) return true
            if (status == FastLane.NOT_ACQUIRED) return false
            checked(status) // FAILED throws; INTERRUPTED: a signal handler ran, try again.
        }
    }

    internal fun acquireBlocking(start: Long, count: Long, flags: Int) {
        if (tryAcquire(start, count, flags)) return
        while (true) {
            checkInterrupted(start, count, flags)
            if (waitOnce(start, count, flags, SLICE_SECONDS) == FastLane.DONE) return
        }
    }

    internal fun acquireTimed(start: Long, count: Long, flags: Int, timeout: Duration): Boolean {
        val seconds = timeout.toDouble(DurationUnit.SECONDS) // INFINITE: +Infinity, no limit
        val began = System.nanoTime()
        // The first slice carries the caller's value when it is shorter (a negative one included),
        // so the core checks it before anything is taken.
        var left = seconds
        while (true) {
            checkInterrupted(start, count, flags)
            when (waitOnce(start, count, flags, minOf(left, SLICE_SECONDS))) {
                FastLane.DONE -> return true
                FastLane.NOT_ACQUIRED -> if (left <= SLICE_SECONDS) return false
            }
            left = maxOf(0.0, seconds - (System.nanoTime() - began) / 1e9)
        }
    }

    /** One kernel wait of at most [seconds] (checked by the core): DONE, NOT_ACQUIRED or INTERRUPTED. */
    private fun waitOnce(start: Long, count: Long, flags: Int, seconds: Double): Int {
        val status = FastLane.locksfile_fast_acquire_timeout(token, start, count, flags, seconds)
        Reference.reachabilityFence(this)
        return checked(status)
    }

    /** Releases the span; [flags] may carry the mode, which the core ignores here. */
    internal fun release(start: Long, count: Long, flags: Int) {
        while (true) {
            val status = FastLane.locksfile_fast_release(token, start, count, flags)
            Reference.reachabilityFence(this)
            if (status == FastLane.DONE) return
            checked(status)
        }
    }

    private fun guard(start: Long, count: Long, flags: Int): LockGuard {
        acquireBlocking(start, count, flags)
        return LockGuard(this, start, count, flags)
    }

    private fun checkInterrupted(start: Long, count: Long, flags: Int) {
        if (Thread.interrupted()) {
            val mode = if (flags and FastLane.WRITE != 0) "write" else "read"
            throw InterruptedException("interrupted while waiting for a $mode lock on ${Span(start, count, flags).describe()} of $path")
        }
    }

    /** The status of a direct call; a failure is thrown as the generated path throws it. */
    private fun checked(status: Int): Int {
        if (status == FastLane.FAILED) {
            native.raiseFastLaneError()
            error("the native call failed without an error")
        }
        return status
    }
}

/** The mode's bit in the direct path's flags. */
private fun LockMode.flag(): Int = if (this == LockMode.WRITE) FastLane.WRITE else 0

/**
 * Runs [action], then [release] on every exit path, a non-local `return` or `break` out of [action]
 * included, as `use {}` closes: a failure of [release] after a failure of [action] is added to the
 * first as suppressed.
 */
@PublishedApi
internal inline fun <T> holding(release: () -> Unit, action: () -> T): T {
    var thrown: Throwable? = null
    try {
        return action()
    } catch (failure: Throwable) {
        thrown = failure
        throw failure
    } finally {
        if (thrown == null) {
            release()
        } else {
            try {
                release()
            } catch (also: Throwable) {
                thrown.addSuppressed(also)
            }
        }
    }
}

/** Holds a span of locks until [close]d (use it with `use {}`); releases exactly that span. */
class LockGuard internal constructor(
    private val file: LocksFile,
    /** The first index held. */
    val start: Long,
    private val spanCount: Long,
    private val flags: Int,
) : AutoCloseable {
    private var open = true

    /** The mode the locks are held in. */
    val mode: LockMode get() = if (flags and FastLane.WRITE != 0) LockMode.WRITE else LockMode.READ

    /** How many locks are held; null for every lock from [start] on (up to [MAX_INDEX]). */
    val count: Long? get() = if (flags and FastLane.TO_END != 0 || start + (spanCount - 1) == MAX_INDEX) null else spanCount

    override fun close() {
        if (open) {
            open = false
            file.release(start, spanCount, flags)
        }
    }
}

@PublishedApi
internal fun IntRange.toLongRange(): LongRange = first.toLong()..last.toLong()
