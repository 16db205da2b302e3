"""The original pylocksfile 0.0.6 API, kept working (without its bugs: it truncated the file on
open, ignored ``l_id``, and nested ``with`` blocks leaked the outer block's locks)."""

from __future__ import annotations

import logging
import os
import tempfile
from typing import List, Optional, Sequence, Tuple, Union

from . import _fastlane as fast
from ._errors import DeadlockError
from ._locksfile import LocksFile, Scope
from ._ranges import MAX_INDEX, describe, span

__all__ = ["pylocksfile", "IllegalArgumentError"]

_log = logging.getLogger("pylocksfile")

LockN = Union[int, Tuple[int, int], List[int], Sequence[int]]


class IllegalArgumentError(ValueError):
    """Bad argument (0.0.6's exception; the ValueErrors of the seed API are of this class)."""


class IllegalArgumentTypeError(IllegalArgumentError, TypeError):
    """An argument of the wrong type: both a TypeError and 0.0.6's IllegalArgumentError."""


_MODE = {False: "read", True: "write"}

# The hot calls (see _fastlane): None, having done nothing, when the arguments are not the plain case.
_fast_acquire = fast.acquire
_fast_release = fast.release
_DONE = fast.DONE


def _lock_span(lock_n: object) -> Tuple[int, int]:
    """``lock_n``: an index, or a ``(start, count)`` pair (tuple or list)."""
    if type(lock_n) is int and 0 <= lock_n <= MAX_INDEX:
        return lock_n, 1  # The common case first (a hot path).
    if isinstance(lock_n, (tuple, list)):
        if len(lock_n) != 2:
            raise IllegalArgumentError(f"lock_n must be an int or a (start, count) pair, got {len(lock_n)} items")
        start, count = lock_n
    else:
        start, count = lock_n, 1
    if isinstance(start, bool) or not isinstance(start, int) or isinstance(count, bool) or not isinstance(count, int):
        bad = start if not isinstance(start, int) or isinstance(start, bool) else count
        raise IllegalArgumentTypeError(
            f"lock_n must be an int or a (start, count) pair of ints, got {type(bad).__name__} in {lock_n!r}"
        )
    try:
        first, number = span(start, count, "lock_n start", "lock_n count")
    except ValueError as error:
        raise IllegalArgumentError(f"lock_n {lock_n!r}: {error}") from None
    assert number is not None
    return first, number


def _flag(value: object, name: str) -> bool:
    if value.__class__ is not bool:
        raise IllegalArgumentTypeError(f"{name} must be a bool (True/False), not {type(value).__name__}")
    return value


class pylocksfile:  # noqa: N801 - the original name
    """A lock file whose locks are numbered: lock ``i`` is byte ``i``. Uses process-owned (classic
    POSIX) locks, so the kernel detects deadlocks between processes: a blocking ``acquire`` that
    would deadlock returns ``False``.

    ``locksfile_path=None`` makes a fresh lock file in the temp directory (see
    :attr:`locksfile_path`). ``verbose`` logs each operation through the ``logging`` module (logger
    ``"pylocksfile"``, level INFO), prefixed with ``l_id`` (default: the process id).
    """

    def __init__(self, locksfile_path: Optional[str] = None, verbose: bool = False, l_id: Optional[str] = None) -> None:
        _flag(verbose, "verbose")
        if locksfile_path is None:
            fd, locksfile_path = tempfile.mkstemp(prefix="pylocksfile-", suffix=".lock")
            os.close(fd)  # No locks yet: closing this descriptor drops nothing.
        elif not isinstance(locksfile_path, (str, os.PathLike)):
            raise IllegalArgumentTypeError(f"locksfile_path must be a str or None, not {type(locksfile_path).__name__}")
        self._l_id = str(os.getpid()) if l_id is None else str(l_id)
        self._verbose = verbose
        self._file = LocksFile(os.path.abspath(os.fsdecode(locksfile_path)), scope=Scope.PROCESS)
        self._token = self._file._token

    @property
    def locksfile_path(self) -> str:
        """The lock file's absolute path."""
        return self._file.path

    @property
    def l_id(self) -> str:
        """The id that prefixes this object's log messages."""
        return self._l_id

    @property
    def verbose(self) -> bool:
        """Whether each operation is logged."""
        return self._verbose

    @verbose.setter
    def verbose(self, value: bool) -> None:
        self._verbose = _flag(value, "verbose")

    @property
    def file(self) -> LocksFile:
        """The underlying :class:`LocksFile` (the newer API)."""
        return self._file

    def _say(self, message: str, *args: object) -> None:
        _log.info("[%s] " + message, self._l_id, *args)

    def acquire(self, writeLock: bool = False, lock_n: LockN = 0, blocking: bool = True) -> bool:  # noqa: N803
        """Takes lock ``lock_n`` (an index or ``(start, count)``) shared, or exclusive with
        ``writeLock=True``. Returns ``False`` when ``blocking=False`` and another process holds a
        conflicting lock, or when the kernel reports that waiting would deadlock."""
        if blocking is True and not self._verbose:
            status = _fast_acquire(self._token, lock_n, 1, writeLock)  # The common case, in one call.
            if status == _DONE:
                return True
            if status is not None:
                try:
                    self._file._raise_fast_lane_error()
                except DeadlockError:
                    return False
        write = _flag(writeLock, "writeLock")
        wait = _flag(blocking, "blocking")
        start, count = _lock_span(lock_n)
        try:
            if wait:
                self._file._acquire_blocking(start, count, write)
                taken = True
            else:
                taken = self._file.try_acquire(start, count, write=write)
        except DeadlockError as error:
            if self._verbose:
                self._say("%s lock on %s refused: %s", _MODE[write], describe(start, count), error)
            return False
        if self._verbose:
            self._say("%s lock on %s %s", _MODE[write], describe(start, count), "acquired" if taken else "busy")
        return taken

    def release(self, lock_n: Optional[LockN] = None) -> None:
        """Releases lock ``lock_n`` (an index or ``(start, count)``), or every lock when None."""
        if not self._verbose:
            status = _fast_release(self._token, lock_n, 1)  # The common case, in one call.
            if status == _DONE:
                return
            if status is not None:
                self._file._raise_fast_lane_error()
        if lock_n is None:
            self._file.release_all()
            if self._verbose:
                self._say("released all locks")
            return
        start, count = _lock_span(lock_n)
        self._file._release_span(start, count)
        if self._verbose:
            self._say("released %s", describe(start, count))

    def __call__(self, writeLock: bool = False, lock_n: LockN = 0) -> "_Block":  # noqa: N803
        """For ``with locksfile(writeLock=..., lock_n=...):`` — blocking; each block releases
        exactly the range it entered, however deeply blocks nest."""
        return _Block(self, _flag(writeLock, "writeLock"), _lock_span(lock_n))

    def __del__(self) -> None:
        file = getattr(self, "_file", None)
        if file is not None:
            try:
                file.close()
            except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to report to
                pass

    def __repr__(self) -> str:
        return f"pylocksfile({self.locksfile_path!r}, l_id={self._l_id!r})"


class _Block:
    """One ``with`` block of the seed API: its own range, released on exit."""

    def __init__(self, owner: pylocksfile, write: bool, lock_span: Tuple[int, int]) -> None:
        self._owner = owner
        self._write = write
        self._span = lock_span

    def __enter__(self) -> pylocksfile:
        if not self._owner.acquire(writeLock=self._write, lock_n=self._span, blocking=True):
            raise DeadlockError(
                f"deadlock detected entering a with block on {describe(*self._span)} of {self._owner.locksfile_path}",
                self._owner.locksfile_path,
            )
        return self._owner

    def __exit__(self, *exc: object) -> None:
        self._owner.release(lock_n=self._span)
