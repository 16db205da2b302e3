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
import dev.locksfile.ffi.OpenOptions as NativeOptions

/**
 * An open lock file: lock `i` is byte `i` of the file. Any process may open the same file and take
 * locks by index, shared ([LockMode.READ]) or exclusive ([LockMode.WRITE]), one index or a range in
 * one atomic call; the kernel frees a dead process's locks.
 *
 * ```
 * LocksFile.open("/tmp/data.lock").use { locks ->
 *     locks.withWriteLock(1..3) { /* locks 1, 2, 3 exclusive */ }
 *     locks.read(0).use { /* lock 0 shared */ }
 * }
 * ```
 *
 * Every function that acquires, releases or guards locks takes an index (`Long` or `Int`) or a range
 * (`LongRange` or `IntRange`, inclusive: `1..3` is locks 1, 2 and 3), or a name (`String`): the lock
 * [indexOf] that name, the same in every language. From Java, [range] and [rangeFrom] make the
 * ranges, and a guard in try-with-resources releases:
 * `try (LockGuard guard = locks.write(LocksFile.range(1, 3))) { ... }`.
 *
 * A handle opened with `fair = true` prefers writers: see [open] and [isFair].
 *
 * **Close it.** The handle's lifetime is yours to end with [close] (or `use {}`): closing releases
 * every lock it holds. The garbage collector eventually frees a forgotten handle's native memory,
 * but a lock must never wait for a collection: do not rely on it.
 *
 * Thread-safe: threads may share a handle (they share its locks). A thread blocked in an acquire
 * leaves it with an [InterruptedException] soon after [Thread.interrupt], holding nothing new, and
 * with [LocksFileException.Closed] when another thread closes the handle.
 *
 * Ranges and timeouts are checked by the native core, which throws [LocksFileException.InvalidRange]
 * (a negative index, an empty range) and [LocksFileException.InvalidTimeout] (a negative timeout)
 * with the same words in every language.
 */
class LocksFile private constructor(
    private val native: NativeLocksFile,
    /** The path the file was opened by. */
    val path: String,
    /** Who owns the locks. */
    val scope: Scope,
) : AutoCloseable {
    private val token: Long = native.fastLaneToken().toLong()

    /**
     * Whether the handle prefers writers (opened with `fair = true`): its waiting writer holds back
     * new readers of fair handles. Its indices are below 2^62.
     */
    val isFair: Boolean = native.isFair()

    /** Whether write locks can be taken (the file opened read-write). */
    val isWritable: Boolean get() = native.isWritable()

    companion object {
        /** The largest lock index: 2^63 - 1 (the largest `off_t`). */
        const val MAX_INDEX: Long = Long.MAX_VALUE

        /** How long one kernel wait lasts before a blocked thread checks for [Thread.interrupt], in seconds. */
        private const val SLICE_SECONDS = 0.05

        /**
         * Opens (or creates, with permission bits [mode] less the umask; never truncates) the lock
         * file at [path]: read-write, or read-only when it is not writable.
         *
         * With [fair] (default false) the handle prefers writers: a waiting writer of a fair handle
         * holds back new readers of fair handles, so that overlapping readers cannot starve it. Each
         * fair acquire passes a gate byte (at 2^62 + index) first: three system calls instead of one.
         * Handles that are not fair, and other programs, do not wait at the gates (they still exclude
         * correctly). A handle that already holds a lock skips the gate. A fair handle's indices are
         * below 2^62 (names fit): larger ones are [LocksFileException.InvalidRange], and a range to
         * [MAX_INDEX] ends there.
         *
         * @throws LocksFileException.NotFound when it is missing and [create] is false
         * @throws LocksFileException.MissingDirectory when its directory is missing
         * @throws LocksFileException.IsDirectory when [path] names a directory
         * @throws LocksFileException.Io on another error of the operating system
         */
        @JvmStatic
        @JvmOverloads
        fun open(path: String, scope: Scope = Scope.OPEN_FILE, create: Boolean = true, mode: Int = 420, fair: Boolean = false): LocksFile {
            require(mode in 0..0xFFF) { "mode must be permission bits from 0 to 0o7777, got $mode" }
            val native = converting { NativeLocksFile(path, NativeOptions(scope.toNative(), create, mode.toUInt(), fair)) }
            return LocksFile(native, path, scope)
        }

        /** Opens the lock file at [path]; see the `String` overload. */
        @JvmStatic
        @JvmOverloads
        fun open(path: Path, scope: Scope = Scope.OPEN_FILE, create: Boolean = true, mode: Int = 420, fair: Boolean = false): LocksFile =
            open(path.toString(), scope, create, mode, fair)

        /**
         * The lock index of [name]: 2^61 + (fmix64(fnv1a64(UTF-8 bytes)) >> 3), the same in every
         * language and stable across versions, in a region of its own (2^61 to 2^62 - 1), away from
         * numbered locks. Every function taking an index also takes a name and locks this index.
         */
        @JvmStatic
        fun indexOf(name: String): Long {
            // The direct path (a JNI call): the generated `indexOf` costs tens of microseconds.
            val index = FastLane.locksfile_index_of(name)
            require(index >= 0) { "a lock name must have a UTF-8 form, without lone surrogates: \"$name\"" }
            return index
        }

        /** The locks [first] to [last], both included: `first..last`, for Java (`LocksFile.range(1, 3)`). */
        @JvmStatic
        fun range(first: Long, last: Long): LongRange = first..last

        /** Every lock from [start] on: `start..MAX_INDEX`. */
        @JvmStatic
        fun rangeFrom(start: Long): LongRange = start..MAX_INDEX
    }

    // ----- acquiring ---------------------------------------------------------------------------

    /** Takes lock [index] in [mode], waiting as long as it takes; converts a held lock in place. */
    @Throws(InterruptedException::class)
    fun acquire(index: Long, mode: LockMode) = acquireBlocking(index, 1, Span.INDEX or mode.flag())

    /** Takes lock [index] in [mode], waiting as long as it takes; converts a held lock in place. */
    @Throws(InterruptedException::class)
    fun acquire(index: Int, mode: LockMode) = acquireBlocking(index.toLong(), 1, Span.INDEX or mode.flag())

    /** Takes every lock of [range] in [mode] (all or none), waiting as long as it takes. */
    @Throws(InterruptedException::class)
    fun acquire(range: LongRange, mode: LockMode) = acquireBlocking(range.first, Span.count(range), Span.INDEX or mode.flag())

    /** Takes every lock of [range] in [mode] (all or none), waiting as long as it takes. */
    @Throws(InterruptedException::class)
    fun acquire(range: IntRange, mode: LockMode) = acquireBlocking(range.first.toLong(), Span.count(range), Span.INDEX or mode.flag())

    /** Takes the lock of [name] ([indexOf]) in [mode], waiting as long as it takes. */
    @Throws(InterruptedException::class)
    fun acquire(name: String, mode: LockMode) = acquireBlocking(indexOf(name), 1, Span.INDEX or mode.flag())

    /** Takes every lock from [start] on in [mode], waiting as long as it takes. */
    @Throws(InterruptedException::class)
    fun acquireFrom(start: Long, mode: LockMode) = acquireBlocking(start, 0, Span.FROM or mode.flag())

    /** Takes lock [index] if no other owner is in the way: false on conflict. */
    fun tryAcquire(index: Long, mode: LockMode): Boolean = tryAcquire(index, 1, Span.INDEX or mode.flag())

    /** Takes lock [index] if no other owner is in the way: false on conflict. */
    fun tryAcquire(index: Int, mode: LockMode): Boolean = tryAcquire(index.toLong(), 1, Span.INDEX or mode.flag())

    /** Takes [range] if no other owner is in the way: false on conflict. */
    fun tryAcquire(range: LongRange, mode: LockMode): Boolean = tryAcquire(range.first, Span.count(range), Span.INDEX or mode.flag())

    /** Takes [range] if no other owner is in the way: false on conflict. */
    fun tryAcquire(range: IntRange, mode: LockMode): Boolean = tryAcquire(range.first.toLong(), Span.count(range), Span.INDEX or mode.flag())

    /** Takes the lock of [name] ([indexOf]) if no other owner is in the way: false on conflict. */
    fun tryAcquire(name: String, mode: LockMode): Boolean = tryAcquire(indexOf(name), 1, Span.INDEX or mode.flag())

    /**
     * Takes lock [index], waiting at most [timeout] ([Duration.INFINITE]: no limit): false at the
     * deadline, holding nothing new.
     */
    @Throws(InterruptedException::class)
    fun acquire(index: Long, mode: LockMode, timeout: Duration): Boolean = acquireTimed(index, 1, Span.INDEX or mode.flag(), timeout)

    /** Takes lock [index], waiting at most [timeout]: false at the deadline, holding nothing new. */
    @Throws(InterruptedException::class)
    fun acquire(index: Int, mode: LockMode, timeout: Duration): Boolean = acquireTimed(index.toLong(), 1, Span.INDEX or mode.flag(), timeout)

    /** Takes [range], waiting at most [timeout]: false at the deadline, holding nothing new. */
    @Throws(InterruptedException::class)
    fun acquire(range: LongRange, mode: LockMode, timeout: Duration): Boolean =
        acquireTimed(range.first, Span.count(range), Span.INDEX or mode.flag(), timeout)

    /** Takes [range], waiting at most [timeout]: false at the deadline, holding nothing new. */
    @Throws(InterruptedException::class)
    fun acquire(range: IntRange, mode: LockMode, timeout: Duration): Boolean =
        acquireTimed(range.first.toLong(), Span.count(range), Span.INDEX or mode.flag(), timeout)

    /** Takes lock [index], waiting at most [timeout] (a `java.time.Duration`). */
    @Throws(InterruptedException::class)
    fun acquire(index: Long, mode: LockMode, timeout: java.time.Duration): Boolean =
        acquireTimed(index, 1, Span.INDEX or mode.flag(), timeout.toKotlinDuration())

    /** Takes [range], waiting at most [timeout] (a `java.time.Duration`). */
    @Throws(InterruptedException::class)
    fun acquire(range: LongRange, mode: LockMode, timeout: java.time.Duration): Boolean =
        acquireTimed(range.first, Span.count(range), Span.INDEX or mode.flag(), timeout.toKotlinDuration())

    /** Takes lock [index], waiting at most [timeout] (a `java.time.Duration`). */
    @Throws(InterruptedException::class)
    fun acquire(index: Int, mode: LockMode, timeout: java.time.Duration): Boolean = acquire(index.toLong(), mode, timeout)

    /** Takes [range], waiting at most [timeout] (a `java.time.Duration`). */
    @Throws(InterruptedException::class)
    fun acquire(range: IntRange, mode: LockMode, timeout: java.time.Duration): Boolean =
        acquireTimed(range.first.toLong(), Span.count(range), Span.INDEX or mode.flag(), timeout.toKotlinDuration())

    /** Takes the lock of [name] ([indexOf]), waiting at most [timeout]: false at the deadline, holding nothing new. */
    @Throws(InterruptedException::class)
    fun acquire(name: String, mode: LockMode, timeout: Duration): Boolean = acquireTimed(indexOf(name), 1, Span.INDEX or mode.flag(), timeout)

    /** Takes the lock of [name] ([indexOf]), waiting at most [timeout] (a `java.time.Duration`). */
    @Throws(InterruptedException::class)
    fun acquire(name: String, mode: LockMode, timeout: java.time.Duration): Boolean =
        acquireTimed(indexOf(name), 1, Span.INDEX or mode.flag(), timeout.toKotlinDuration())

    /**
     * Takes [range] in [mode] without blocking the caller's dispatcher: the wait runs on
     * [Dispatchers.IO], in the kernel's queue. Cancellation ends the wait promptly and leaves nothing
     * new held. With a [timeout], false at the deadline.
     */
    suspend fun acquireSuspending(range: LongRange, mode: LockMode, timeout: Duration? = null): Boolean =
        acquireSuspending(range.first, Span.count(range), Span.INDEX or mode.flag(), timeout)

    /** Takes [range] like the [LongRange] overload. */
    suspend fun acquireSuspending(range: IntRange, mode: LockMode, timeout: Duration? = null): Boolean =
        acquireSuspending(range.first.toLong(), Span.count(range), Span.INDEX or mode.flag(), timeout)

    /** Takes lock [index] like the [LongRange] overload. */
    suspend fun acquireSuspending(index: Long, mode: LockMode, timeout: Duration? = null): Boolean =
        acquireSuspending(index, 1, Span.INDEX or mode.flag(), timeout)

    /** Takes lock [index] like the [LongRange] overload. */
    suspend fun acquireSuspending(index: Int, mode: LockMode, timeout: Duration? = null): Boolean =
        acquireSuspending(index.toLong(), 1, Span.INDEX or mode.flag(), timeout)

    /** Takes the lock of [name] ([indexOf]) like the [LongRange] overload. */
    suspend fun acquireSuspending(name: String, mode: LockMode, timeout: Duration? = null): Boolean =
        acquireSuspending(indexOf(name), 1, Span.INDEX or mode.flag(), timeout)

    private suspend fun acquireSuspending(start: Long, count: Long, flags: Int, timeout: Duration?): Boolean {
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

    // ----- guards ------------------------------------------------------------------------------

    /** Takes lock [index] shared; the guard releases it (`use {}`, try-with-resources). */
    @Throws(InterruptedException::class)
    fun read(index: Long): LockGuard = guard(index, 1, Span.INDEX or LockMode.READ.flag())

    /** Takes lock [index] shared; the guard releases it. */
    @Throws(InterruptedException::class)
    fun read(index: Int): LockGuard = guard(index.toLong(), 1, Span.INDEX or LockMode.READ.flag())

    /** Takes [range] shared; the guard releases it. */
    @Throws(InterruptedException::class)
    fun read(range: LongRange): LockGuard = guard(range.first, Span.count(range), Span.INDEX or LockMode.READ.flag())

    /** Takes [range] shared; the guard releases it. */
    @Throws(InterruptedException::class)
    fun read(range: IntRange): LockGuard = guard(range.first.toLong(), Span.count(range), Span.INDEX or LockMode.READ.flag())

    /** Takes the lock of [name] ([indexOf]) shared; the guard releases it. */
    @Throws(InterruptedException::class)
    fun read(name: String): LockGuard = guard(indexOf(name), 1, Span.INDEX or LockMode.READ.flag())

    /** Takes lock [index] exclusive; the guard releases it (`use {}`, try-with-resources). */
    @Throws(InterruptedException::class)
    fun write(index: Long): LockGuard = guard(index, 1, Span.INDEX or LockMode.WRITE.flag())

    /** Takes lock [index] exclusive; the guard releases it. */
    @Throws(InterruptedException::class)
    fun write(index: Int): LockGuard = guard(index.toLong(), 1, Span.INDEX or LockMode.WRITE.flag())

    /** Takes [range] exclusive; the guard releases it. */
    @Throws(InterruptedException::class)
    fun write(range: LongRange): LockGuard = guard(range.first, Span.count(range), Span.INDEX or LockMode.WRITE.flag())

    /** Takes [range] exclusive; the guard releases it. */
    @Throws(InterruptedException::class)
    fun write(range: IntRange): LockGuard = guard(range.first.toLong(), Span.count(range), Span.INDEX or LockMode.WRITE.flag())

    /** Takes the lock of [name] ([indexOf]) exclusive; the guard releases it. */
    @Throws(InterruptedException::class)
    fun write(name: String): LockGuard = guard(indexOf(name), 1, Span.INDEX or LockMode.WRITE.flag())

    // The with-functions hold the locks without a guard object (nothing to allocate, whether or not
    // the JIT inlines far enough to drop one), releasing them as `use {}` closes a guard.

    /** Runs [action] holding lock [index] shared, releasing it on every exit path. */
    @Throws(InterruptedException::class)
    inline fun <T> withReadLock(index: Long, action: () -> T): T {
        acquire(index, LockMode.READ)
        return holding({ release(index) }, action)
    }

    /** Runs [action] holding lock [index] shared, releasing it on every exit path. */
    @Throws(InterruptedException::class)
    inline fun <T> withReadLock(index: Int, action: () -> T): T = withReadLock(index.toLong(), action)

    /** Runs [action] holding [range] shared. */
    @Throws(InterruptedException::class)
    inline fun <T> withReadLock(range: LongRange, action: () -> T): T {
        acquire(range, LockMode.READ)
        return holding({ release(range) }, action)
    }

    /** Runs [action] holding [range] shared. */
    @Throws(InterruptedException::class)
    inline fun <T> withReadLock(range: IntRange, action: () -> T): T = withReadLock(range.toLongRange(), action)

    /** Runs [action] holding the lock of [name] ([indexOf]) shared. */
    @Throws(InterruptedException::class)
    inline fun <T> withReadLock(name: String, action: () -> T): T = withReadLock(indexOf(name), action)

    /** Runs [action] holding lock [index] exclusive, releasing it on every exit path. */
    @Throws(InterruptedException::class)
    inline fun <T> withWriteLock(index: Long, action: () -> T): T {
        acquire(index, LockMode.WRITE)
        return holding({ release(index) }, action)
    }

    /** Runs [action] holding lock [index] exclusive, releasing it on every exit path. */
    @Throws(InterruptedException::class)
    inline fun <T> withWriteLock(index: Int, action: () -> T): T = withWriteLock(index.toLong(), action)

    /** Runs [action] holding [range] exclusive. */
    @Throws(InterruptedException::class)
    inline fun <T> withWriteLock(range: LongRange, action: () -> T): T {
        acquire(range, LockMode.WRITE)
        return holding({ release(range) }, action)
    }

    /** Runs [action] holding [range] exclusive. */
    @Throws(InterruptedException::class)
    inline fun <T> withWriteLock(range: IntRange, action: () -> T): T = withWriteLock(range.toLongRange(), action)

    /** Runs [action] holding the lock of [name] ([indexOf]) exclusive. */
    @Throws(InterruptedException::class)
    inline fun <T> withWriteLock(name: String, action: () -> T): T = withWriteLock(indexOf(name), action)

    // ----- releasing ---------------------------------------------------------------------------

    /** Releases lock [index] (idempotent). */
    fun release(index: Long) = release(index, 1, Span.INDEX)

    /** Releases lock [index] (idempotent). */
    fun release(index: Int) = release(index.toLong(), 1, Span.INDEX)

    /** Releases whatever this handle holds in [range]. */
    fun release(range: LongRange) = release(range.first, Span.count(range), Span.INDEX)

    /** Releases whatever this handle holds in [range]. */
    fun release(range: IntRange) = release(range.first.toLong(), Span.count(range), Span.INDEX)

    /** Releases the lock of [name] ([indexOf]) (idempotent). */
    fun release(name: String) = release(indexOf(name), 1, Span.INDEX)

    /** Releases every lock from [start] on. */
    fun releaseFrom(start: Long) = release(start, 0, Span.FROM)

    /** Releases everything this handle holds. */
    fun releaseAll() = converting { native.releaseAll() }

    // ----- introspection -----------------------------------------------------------------------

    /** What this handle holds, as coalesced runs in index order. */
    fun held(): List<Held> = converting { native.held() }.map { Held(it.start.toLong(), it.count?.toLong(), it.mode.toPublic()) }

    /** The mode this handle holds lock [index] in, or null. */
    fun modeOf(index: Long): LockMode? = converting { native.modeOf(Span(index, 1, Span.INDEX).checked().start) }?.toPublic()

    /** The mode this handle holds lock [index] in, or null. */
    fun modeOf(index: Int): LockMode? = modeOf(index.toLong())

    /** The mode this handle holds the lock of [name] ([indexOf]) in, or null. */
    fun modeOf(name: String): LockMode? = modeOf(indexOf(name))

    /** The locks other owners hold overlapping [range] (default: all), with their processes. */
    @JvmOverloads
    fun holders(range: LongRange = 0L..MAX_INDEX): List<Holder> {
        val span = Span(range.first, Span.count(range), Span.INDEX).checked()
        return converting { native.holders(span.start, span.count) }.map {
            Holder(it.start.toLong(), it.count?.toLong(), it.mode.toPublic(), it.kind.toPublic(), it.pid?.toInt())
        }
    }

    /** The locks other owners hold overlapping [range], with their processes. */
    fun holders(range: IntRange): List<Holder> = holders(range.toLongRange())

    /** The locks other owners hold overlapping the lock of [name] ([indexOf]), with their processes. */
    fun holders(name: String): List<Holder> = indexOf(name).let { index -> holders(index..index) }

    /** Whether the path no longer names the open file (deleted or replaced). */
    fun isStale(): Boolean = converting { native.isStale() }

    /**
     * Releases every lock and closes the file; an acquire waiting on this handle in another thread
     * ends with [LocksFileException.Closed], holding nothing new, before this returns. Idempotent;
     * later calls throw `Closed`. Throws [LocksFileException.NoLocksAvailable] only in
     * [Scope.PROCESS], when the kernel cannot split a lock (the file is closed all the same).
     */
    override fun close() = converting { native.closeFile() }

    override fun toString() = if (isFair) "LocksFile($path, $scope, fair)" else "LocksFile($path, $scope)"

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
            converting { native.raiseFastLaneError() }
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

    /** How many locks are held; null for every lock from [start] on (up to [LocksFile.MAX_INDEX]). */
    val count: Long? get() = if (flags and FastLane.TO_END != 0 || start + (spanCount - 1) == LocksFile.MAX_INDEX) null else spanCount

    override fun close() {
        if (open) {
            open = false
            file.release(start, spanCount, flags)
        }
    }
}

@PublishedApi
internal fun IntRange.toLongRange(): LongRange = first.toLong()..last.toLong()
