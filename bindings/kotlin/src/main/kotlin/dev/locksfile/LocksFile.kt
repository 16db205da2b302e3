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
    fun acquire(index: Long, mode: LockMode) = acquireBlocking(Span.of(index), mode)

    /** Takes every lock of [range] in [mode] (all or none), waiting as long as it takes. */
    fun acquire(range: LongRange, mode: LockMode) = acquireBlocking(Span.of(range), mode)

    /** Takes every lock from [start] on in [mode], waiting as long as it takes. */
    fun acquireFrom(start: Long, mode: LockMode) = acquireBlocking(Span.from(start), mode)

    /** Takes lock [index] if no other owner is in the way: false on conflict. */
    fun tryAcquire(index: Long, mode: LockMode): Boolean = tryAcquire(Span.of(index), mode)

    /** Takes [range] if no other owner is in the way: false on conflict. */
    fun tryAcquire(range: LongRange, mode: LockMode): Boolean = tryAcquire(Span.of(range), mode)

    /**
     * Takes lock [index], waiting at most [timeout] ([Duration.INFINITE]: no limit): false at the
     * deadline, holding nothing new.
     */
    fun acquire(index: Long, mode: LockMode, timeout: Duration): Boolean = acquireTimed(Span.of(index), mode, timeout)

    /** Takes [range], waiting at most [timeout]: false at the deadline, holding nothing new. */
    fun acquire(range: LongRange, mode: LockMode, timeout: Duration): Boolean = acquireTimed(Span.of(range), mode, timeout)

    /** Takes lock [index], waiting at most [timeout] (a `java.time.Duration`). */
    fun acquire(index: Long, mode: LockMode, timeout: java.time.Duration): Boolean =
        acquireTimed(Span.of(index), mode, timeout.toKotlinDuration())

    /** Takes [range], waiting at most [timeout] (a `java.time.Duration`). */
    fun acquire(range: LongRange, mode: LockMode, timeout: java.time.Duration): Boolean =
        acquireTimed(Span.of(range), mode, timeout.toKotlinDuration())

    /**
     * Takes [range] in [mode] without blocking the caller's dispatcher: the wait runs on
     * [Dispatchers.IO], in the kernel's queue. Cancellation ends the wait promptly and leaves nothing
     * new held. With a [timeout], false at the deadline.
     */
    suspend fun acquireSuspending(range: LongRange, mode: LockMode, timeout: Duration? = null): Boolean {
        val span = Span.of(range)
        // A try on the caller's thread; with the caller's timeout (at most 0), so the core checks it first.
        val seconds = timeout?.toDouble(DurationUnit.SECONDS) ?: Double.POSITIVE_INFINITY
        if (waitOnce(span, mode, minOf(seconds, 0.0)) == FastLane.DONE) return true
        var acquired = false
        try {
            return runInterruptible(Dispatchers.IO) {
                acquired = if (timeout == null) { acquireBlocking(span, mode); true } else acquireTimed(span, mode, timeout)
                acquired
            }
        } catch (cancelled: CancellationException) {
            if (acquired) release(span) // Granted just as the coroutine was cancelled: give it back.
            throw cancelled
        }
    }

    /** Takes lock [index] like the [LongRange] overload. */
    suspend fun acquireSuspending(index: Long, mode: LockMode, timeout: Duration? = null): Boolean =
        acquireSuspending(index..index, mode, timeout)

    // ----- guards ------------------------------------------------------------------------------

    /** Takes lock [index] shared; the guard releases it (`use {}`). */
    fun read(index: Long): LockGuard = guard(Span.of(index), LockMode.READ)

    /** Takes [range] shared; the guard releases it (`use {}`). */
    fun read(range: LongRange): LockGuard = guard(Span.of(range), LockMode.READ)

    /** Takes lock [index] exclusive; the guard releases it (`use {}`). */
    fun write(index: Long): LockGuard = guard(Span.of(index), LockMode.WRITE)

    /** Takes [range] exclusive; the guard releases it (`use {}`). */
    fun write(range: LongRange): LockGuard = guard(Span.of(range), LockMode.WRITE)

    /** Runs [action] holding lock [index] shared, releasing it on every exit path. */
    inline fun <T> withReadLock(index: Long, action: () -> T): T = read(index).use { action() }

    /** Runs [action] holding [range] shared. */
    inline fun <T> withReadLock(range: LongRange, action: () -> T): T = read(range).use { action() }

    /** Runs [action] holding [range] shared. */
    inline fun <T> withReadLock(range: IntRange, action: () -> T): T = withReadLock(range.toLongRange(), action)

    /** Runs [action] holding lock [index] exclusive, releasing it on every exit path. */
    inline fun <T> withWriteLock(index: Long, action: () -> T): T = write(index).use { action() }

    /** Runs [action] holding [range] exclusive. */
    inline fun <T> withWriteLock(range: LongRange, action: () -> T): T = write(range).use { action() }

    /** Runs [action] holding [range] exclusive. */
    inline fun <T> withWriteLock(range: IntRange, action: () -> T): T = withWriteLock(range.toLongRange(), action)

    // ----- releasing ---------------------------------------------------------------------------

    /** Releases lock [index] (idempotent). */
    fun release(index: Long) = release(Span.of(index))

    /** Releases whatever this handle holds in [range]. */
    fun release(range: LongRange) = release(Span.of(range))

    /** Releases every lock from [start] on. */
    fun releaseFrom(start: Long) = release(Span.from(start))

    /** Releases everything this handle holds. */
    fun releaseAll() = native.releaseAll()

    // ----- introspection -----------------------------------------------------------------------

    /** What this handle holds, as coalesced runs in index order. */
    fun held(): List<Held> = native.held().map { Held(it.start.toLong(), it.count?.toLong(), it.mode) }

    /** The mode this handle holds lock [index] in, or null. */
    fun modeOf(index: Long): LockMode? = native.modeOf(Span.of(index).checked().start)

    /** The locks other owners hold overlapping [range] (default: all), with their processes. */
    fun holders(range: LongRange = 0L..Long.MAX_VALUE): List<Holder> {
        val span = Span.of(range).checked()
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

    internal fun tryAcquire(span: Span, mode: LockMode): Boolean {
        while (true) {
            val status = FastLane.locksfile_fast_acquire(token, span.start, span.count, span.flags or modeFlags(mode))
            Reference.reachabilityFence(this) // The token names the native handle only while this one is reachable.
            when (checked(status)) {
                FastLane.DONE -> return true
                FastLane.NOT_ACQUIRED -> return false
            } // INTERRUPTED: a signal handler ran; try again.
        }
    }

    internal fun acquireBlocking(span: Span, mode: LockMode) {
        if (tryAcquire(span, mode)) return
        while (true) {
            checkInterrupted(span, mode)
            if (waitOnce(span, mode, SLICE_SECONDS) == FastLane.DONE) return
        }
    }

    internal fun acquireTimed(span: Span, mode: LockMode, timeout: Duration): Boolean {
        val seconds = timeout.toDouble(DurationUnit.SECONDS) // INFINITE: +Infinity, no limit
        val began = System.nanoTime()
        // The first slice carries the caller's value when it is shorter (a negative one included),
        // so the core checks it before anything is taken.
        var left = seconds
        while (true) {
            checkInterrupted(span, mode)
            when (waitOnce(span, mode, minOf(left, SLICE_SECONDS))) {
                FastLane.DONE -> return true
                FastLane.NOT_ACQUIRED -> if (left <= SLICE_SECONDS) return false
            }
            left = maxOf(0.0, seconds - (System.nanoTime() - began) / 1e9)
        }
    }

    /** One kernel wait of at most [seconds] (checked by the core): DONE, NOT_ACQUIRED or INTERRUPTED. */
    private fun waitOnce(span: Span, mode: LockMode, seconds: Double): Int {
        val status = FastLane.locksfile_fast_acquire_timeout(token, span.start, span.count, span.flags or modeFlags(mode), seconds)
        Reference.reachabilityFence(this)
        return checked(status)
    }

    internal fun release(span: Span) {
        while (true) {
            val status = FastLane.locksfile_fast_release(token, span.start, span.count, span.flags)
            Reference.reachabilityFence(this)
            if (checked(status) == FastLane.DONE) return
        }
    }

    internal fun guard(span: Span, mode: LockMode): LockGuard {
        acquireBlocking(span, mode)
        return LockGuard(this, span, mode)
    }

    private fun checkInterrupted(span: Span, mode: LockMode) {
        if (Thread.interrupted()) {
            throw InterruptedException("interrupted while waiting for a ${mode.name.lowercase()} lock on ${span.describe()} of $path")
        }
    }

    private fun modeFlags(mode: LockMode) = if (mode == LockMode.WRITE) FastLane.WRITE else 0

    /** The status of a direct call; a failure is thrown as the generated path throws it. */
    private fun checked(status: Int): Int {
        if (status == FastLane.FAILED) {
            native.raiseFastLaneError()
            error("the native call failed without an error")
        }
        return status
    }
}

/** Holds a span of locks until [close]d (use it with `use {}`); releases exactly that span. */
class LockGuard internal constructor(private val file: LocksFile, private val span: Span, val mode: LockMode) : AutoCloseable {
    private var open = true

    /** The first index held. */
    val start: Long get() = span.start

    /** How many locks are held; null for every lock from [start] on (up to [MAX_INDEX]). */
    val count: Long? get() = if (span.toEnd || span.start + (span.count - 1) == MAX_INDEX) null else span.count

    override fun close() {
        if (open) {
            open = false
            file.release(span)
        }
    }
}

@PublishedApi
internal fun IntRange.toLongRange(): LongRange = first.toLong()..last.toLong()
