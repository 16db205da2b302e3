"""The exception hierarchy. Every error is a :class:`LocksFileError`, and also the built-in
exception a Python user would reach for (``ValueError`` for bad ranges, ``PermissionError`` for a
read-only file, ``TimeoutError`` for a timed-out ``with`` block...)."""

from __future__ import annotations

from typing import NoReturn, Optional

from ._native import locksfile as _gen

__all__ = [
    "LocksFileError",
    "InvalidRangeError",
    "InvalidTimeoutError",
    "NotWritableError",
    "DeadlockError",
    "LockTimeoutError",
    "NoLocksAvailableError",
    "LockFileNotFoundError",
    "MissingDirectoryError",
    "LockFileIsDirectoryError",
    "LocksFileOSError",
    "ClosedError",
    "LockInterruptedError",
]


class LocksFileError(Exception):
    """Base class of every error this package raises."""

    def __init__(self, message: str, path: Optional[str] = None) -> None:
        super().__init__(message)
        self.path = path


class InvalidRangeError(LocksFileError, ValueError):
    """The indices do not form a lockable range (the message names the values)."""


class InvalidTimeoutError(LocksFileError, ValueError):
    """A timeout is negative or not a number."""


class NotWritableError(LocksFileError, PermissionError):
    """A write lock was asked of a lock file that could only be opened read-only."""


class DeadlockError(LocksFileError):
    """The kernel found that waiting would deadlock (``Scope.PROCESS`` only); nothing new is held."""


class LockTimeoutError(LocksFileError, TimeoutError):
    """A ``with`` block's lock could not be taken within its timeout."""


class NoLocksAvailableError(LocksFileError, OSError):
    """The kernel's lock table is full (ENOLCK)."""


class LockFileNotFoundError(LocksFileError, FileNotFoundError):
    """The lock file does not exist (and ``create=False``)."""


class MissingDirectoryError(LockFileNotFoundError):
    """The directory that should hold the lock file does not exist."""


class LockFileIsDirectoryError(LocksFileError, IsADirectoryError):
    """The path names a directory."""


class LocksFileOSError(LocksFileError, OSError):
    """Another operating-system error; ``os_errno`` is the errno when there is one."""

    def __init__(self, message: str, path: Optional[str] = None, os_errno: Optional[int] = None) -> None:
        super().__init__(message, path)
        self.os_errno = os_errno


class ClosedError(LocksFileError, ValueError):
    """The handle was closed (like I/O on a closed file, a ``ValueError``)."""


class LockInterruptedError(LocksFileError, InterruptedError):
    """A signal interrupted a wait and the caller chose not to retry; nothing new is held."""


def convert(error: Exception) -> Exception:
    """The exception of this hierarchy for an error of the generated module (others unchanged)."""
    E = _gen.LocksFileError
    if not isinstance(error, E):
        return error
    detail: str = getattr(error, "detail", str(error))
    path: Optional[str] = getattr(error, "path", None)
    if isinstance(error, E.InvalidRange):
        return InvalidRangeError(detail)
    if isinstance(error, E.InvalidTimeout):
        return InvalidTimeoutError(detail)
    if isinstance(error, E.Io):
        return LocksFileOSError(detail, path, error.os_error)
    kinds = {
        E.NotWritable: NotWritableError,
        E.Deadlock: DeadlockError,
        E.Interrupted: LockInterruptedError,
        E.NoLocksAvailable: NoLocksAvailableError,
        E.NotFound: LockFileNotFoundError,
        E.MissingDirectory: MissingDirectoryError,
        E.IsDirectory: LockFileIsDirectoryError,
        E.Closed: ClosedError,
    }
    for kind, ours in kinds.items():
        if isinstance(error, kind):
            return ours(detail, path)
    return LocksFileError(detail, path)


def reraise(error: Exception) -> NoReturn:
    """Raises the converted error, hiding the generated module's frame."""
    raise convert(error) from None
