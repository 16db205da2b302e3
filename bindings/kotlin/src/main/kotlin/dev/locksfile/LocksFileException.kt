package dev.locksfile

import dev.locksfile.ffi.LocksFileException as NativeException

/**
 * Everything that can go wrong. A conflict is not an error: try and timed acquires answer false.
 * Each case mirrors a variant of the interface definition's `LocksFileError`
 * (bindings/ffi/src/locksfile.udl) and carries [detail], the full message in the words every
 * language shows (it is also the exception's message).
 *
 * Unchecked, like Kotlin's own exceptions: Java callers catch what they expect, e.g.
 * `catch (LocksFileException.Deadlock e)`.
 */
sealed class LocksFileException(
    /** The full human-readable message, the same in every language. */
    val detail: String,
) : RuntimeException(detail) {
    /** The indices do not form a lockable range (negative, count 0, or past the largest index). */
    class InvalidRange(detail: String) : LocksFileException(detail)

    /** A timeout is negative or not a number. */
    class InvalidTimeout(detail: String) : LocksFileException(detail)

    /** A write lock was asked of a file that could only be opened read-only. */
    class NotWritable(val path: String, detail: String) : LocksFileException(detail)

    /** The kernel found that waiting would deadlock ([Scope.PROCESS] only). */
    class Deadlock(val path: String, detail: String) : LocksFileException(detail)

    /** A signal interrupted a wait; nothing new is held. This layer's acquires wait again when it happens. */
    class Interrupted(val path: String, detail: String) : LocksFileException(detail)

    /** The kernel's lock table is full (ENOLCK). */
    class NoLocksAvailable(val path: String, detail: String) : LocksFileException(detail)

    /** The lock file does not exist and `create` is false. */
    class NotFound(val path: String, detail: String) : LocksFileException(detail)

    /** The directory that should hold the lock file does not exist. */
    class MissingDirectory(val path: String, detail: String) : LocksFileException(detail)

    /** The path names a directory. */
    class IsDirectory(val path: String, detail: String) : LocksFileException(detail)

    /** Another operating-system error; [osError] is the errno when there is one. */
    class Io(val operation: String, val path: String, val osError: Int?, detail: String) : LocksFileException(detail)

    /** The handle was closed, before or during the call; nothing new is held. */
    class Closed(val path: String, detail: String) : LocksFileException(detail)
}

/** The public exception for the generated one: the same case, the same fields. */
@JvmSynthetic
internal fun NativeException.toPublic(): LocksFileException = when (this) {
    is NativeException.InvalidRange -> LocksFileException.InvalidRange(detail)
    is NativeException.InvalidTimeout -> LocksFileException.InvalidTimeout(detail)
    is NativeException.NotWritable -> LocksFileException.NotWritable(path, detail)
    is NativeException.Deadlock -> LocksFileException.Deadlock(path, detail)
    is NativeException.Interrupted -> LocksFileException.Interrupted(path, detail)
    is NativeException.NoLocksAvailable -> LocksFileException.NoLocksAvailable(path, detail)
    is NativeException.NotFound -> LocksFileException.NotFound(path, detail)
    is NativeException.MissingDirectory -> LocksFileException.MissingDirectory(path, detail)
    is NativeException.IsDirectory -> LocksFileException.IsDirectory(path, detail)
    is NativeException.Io -> LocksFileException.Io(operation, path, osError, detail)
    is NativeException.Closed -> LocksFileException.Closed(path, detail)
}

/**
 * Runs a call of the generated bindings, converting what it throws at the boundary: users see
 * [LocksFileException], never the generated class.
 */
@JvmSynthetic
internal inline fun <T> converting(call: () -> T): T =
    try {
        call()
    } catch (failure: NativeException) {
        throw failure.toPublic()
    }
