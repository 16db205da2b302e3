"""The Pythonic API: ``LocksFile``."""

from __future__ import annotations

import asyncio
import concurrent.futures

import enum
import os
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, List, NamedTuple, Optional, Tuple, Type, Union

from . import _fastlane as fast
from ._errors import LockTimeoutError, reraise
from ._native import locksfile as _gen
from ._ranges import Start, Timeout, checked_blocking_timeout, checked_timeout, describe, index, span

__all__ = ["LocksFile", "LockGuard", "Mode", "Scope", "Held", "Holder"]

# The hot calls, bound once (a module attribute look-up per call costs measurably here). They return
# None, having done nothing, when the arguments are not the plain case: the full path checks them.
_fast_acquire = fast.acquire
_fast_try_acquire = fast.try_acquire
_fast_release = fast.release
_fast_guard = fast.guard
_DONE = fast.DONE

# How long one kernel wait of an asyncio waiter lasts before it checks for cancellation.
_ASYNC_SLICE = 0.1


class Mode(enum.Enum):
    """How a lock is held."""

    READ = "read"
    """Shared: any number of owners at once."""
    WRITE = "write"
    """Exclusive: one owner, nobody else in any mode."""


class Scope(enum.Enum):
    """Who owns the locks a handle takes."""

    OPEN_FILE = "open-file"
    """Each handle is its own owner (open-file-description locks): handles and threads exclude
    each other like processes. The default."""
    PROCESS = "process"
    """The process owns the locks (classic POSIX locks): the kernel detects deadlocks between
    processes; handles and threads of one process share the locks."""


class Held(NamedTuple):
    """A run of locks held in one mode; ``count`` is None for every lock from ``start`` on."""

    start: int
    count: Optional[int]
    mode: Mode


class Holder(NamedTuple):
    """A lock another owner holds: ``kind`` is ``"process"``, ``"open-file"`` or ``"flock"``;
    ``pid`` is the holding process when Linux can tell."""

    start: int
    count: Optional[int]
    mode: Mode
    kind: str
    pid: Optional[int]


_MODES = {_gen.LockMode.READ: Mode.READ, _gen.LockMode.WRITE: Mode.WRITE}
_SCOPES = {Scope.OPEN_FILE: _gen.Scope.OPEN_FILE, Scope.PROCESS: _gen.Scope.PROCESS}
_KINDS = {_gen.LockClass.PROCESS: "process", _gen.LockClass.OPEN_FILE: "open-file", _gen.LockClass.FLOCK: "flock"}

_executor: Optional[concurrent.futures.ThreadPoolExecutor] = None
_executor_lock = threading.Lock()


def _waiters() -> concurrent.futures.ThreadPoolExecutor:
    """The threads asyncio waiters block in (kernel waits must not block the event loop)."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="pylocksfile-wait")
        return _executor


def _call(function: Callable[..., Any], *args: Any) -> Any:
    try:
        return function(*args)
    except _gen.LocksFileError as error:
        reraise(error)


class LocksFile:
    """An open lock file: lock ``i`` is byte ``i`` of the file.

    >>> lf = LocksFile("/tmp/data.lock")
    >>> with lf.write(1, 3):      # locks 1, 2, 3, exclusive
    ...     pass
    >>> with lf.read(0):          # lock 0, shared
    ...     pass

    ``count`` is how many locks from ``start``; ``None`` means every lock from ``start`` on. A
    ``range`` (step 1) may stand for ``start, count``, and a name (a ``str``) for its one lock,
    ``index_of(name)``: ``lf.acquire("dataset-42", write=True)``. ``fair=True`` prefers writers: a
    waiting writer holds back new readers of fair handles (see the README's "Fair handles"). Threads may share a handle. Closing the handle
    (or leaving ``with LocksFile(...)``) releases every lock it holds; so does the process's exit.
    Pickling it (e.g. to a ``multiprocessing`` child) reopens the same path there, holding nothing.
    """

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]"],
        *,
        scope: Scope = Scope.OPEN_FILE,
        create: bool = True,
        mode: int = 0o644,
        fair: bool = False,
    ) -> None:
        if not isinstance(scope, Scope):
            raise TypeError(f"scope must be a Scope, not {type(scope).__name__}")
        if not isinstance(create, bool):
            raise TypeError(f"create must be a bool, not {type(create).__name__}")
        if not isinstance(fair, bool):
            raise TypeError(f"fair must be a bool, not {type(fair).__name__}")
        if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o7777:
            raise ValueError(f"mode must be permission bits from 0 to 0o7777, got {mode!r}")
        try:
            text = os.fsdecode(path)
        except TypeError:
            raise TypeError(f"path must be a str or os.PathLike, not {type(path).__name__}") from None
        options = _gen.OpenOptions(scope=_SCOPES[scope], create=create, mode=mode, fair=fair)
        self._file = _call(_gen.LocksFile, text, options)
        # The native object lives as long as this one, so the token stays valid even after close().
        self._token: int = self._file.fast_lane_token()
        self._path = text
        self._scope = scope
        self._fair = fair

    # ----- identity -----------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The path the file was opened by."""
        return self._path

    @property
    def scope(self) -> Scope:
        """Who owns the locks."""
        return self._scope

    @property
    def fair(self) -> bool:
        """Whether the handle prefers writers (opened with ``fair=True``)."""
        return self._fair

    @property
    def closed(self) -> bool:
        """Whether the handle was closed (:meth:`close`, or leaving ``with LocksFile(...)``)."""
        return bool(self._file.is_closed())

    @property
    def writable(self) -> bool:
        """Whether write locks can be taken (the file opened read-write)."""
        return bool(self._file.is_writable())

    def __repr__(self) -> str:
        return f"LocksFile({self._path!r}, scope={self._scope}{', fair=True' if self._fair else ''})"

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_reopen, (self._path, self._scope, self._fair))

    # ----- acquiring ----------------------------------------------------------------------------

    def acquire(
        self,
        start: Start,
        count: Optional[int] = 1,
        *,
        write: bool = False,
        blocking: bool = True,
        timeout: Timeout = None,
    ) -> bool:
        """Takes ``count`` locks from ``start``, shared (``write=False``) or exclusive.

        Locks already held in the other mode are converted in place. All of the range or none of it.
        Blocks until it gets them (``True``), unless ``blocking=False`` (``False`` on conflict) or a
        ``timeout`` is given, in seconds or as a ``datetime.timedelta`` (``False`` at the deadline,
        holding nothing new; ``math.inf`` waits as long as it takes). A ``timeout`` with
        ``blocking=False`` is a ``ValueError`` (:class:`InvalidTimeoutError`), as with
        ``threading.Lock.acquire``. Ctrl-C while waiting raises ``KeyboardInterrupt`` promptly,
        holding nothing new; so does :class:`ClosedError` when another thread closes the handle.

        Raises :class:`DeadlockError` (``Scope.PROCESS``), :class:`NotWritableError`,
        ``TypeError``/``ValueError`` for bad arguments.
        """
        if timeout is None and blocking is True:
            status = _fast_acquire(self._token, start, count, write)  # The common case, in one call.
            if status == _DONE:
                return True
            if status is not None:
                self._raise_fast_lane_error()
        first, number = span(start, count)
        if write.__class__ is not bool:
            raise TypeError(f"write must be a bool, not {type(write).__name__}")
        if blocking.__class__ is not bool:
            raise TypeError(f"blocking must be a bool, not {type(blocking).__name__}")
        if timeout is not None:
            seconds = checked_blocking_timeout(blocking, timeout)
            return self._acquire_timed(first, number, write, seconds)  # type: ignore[arg-type]
        if not blocking:
            return self._try(first, number, write)
        self._acquire_blocking(first, number, write)
        return True

    def _acquire_blocking(self, start: int, count: Optional[int], write: bool) -> None:
        """Waits as long as it takes (checked arguments); Python's signal handlers run whenever a
        signal interrupts the wait (a raise ends it, holding nothing new)."""
        status = _fast_acquire(self._token, start, count, write)
        if status != _DONE:
            self._refused(status, start, count, write)

    def try_acquire(self, start: Start, count: Optional[int] = 1, *, write: bool = False) -> bool:
        """Takes the locks if no other owner is in the way: ``False`` on conflict."""
        status = _fast_try_acquire(self._token, start, count, write)  # The common case, in one call.
        if status is None:
            first, number = span(start, count)
            if write.__class__ is not bool:
                raise TypeError(f"write must be a bool, not {type(write).__name__}")
            return self._try(first, number, write)
        if status == fast.FAILED:
            self._raise_fast_lane_error()
        return status == _DONE

    def _acquire_timed(self, start: int, count: Optional[int], write: bool, seconds: float) -> bool:
        """Waits at most ``seconds`` (the library refuses a negative or NaN one), running signal
        handlers whenever a signal interrupts the wait, then waiting for what is left."""
        return self._fast_acquire_for(start, count, write, seconds) == _DONE

    def _try(self, start: int, count: Optional[int], write: bool) -> bool:
        """One non-waiting attempt on the direct path (checked arguments)."""
        status = _fast_try_acquire(self._token, start, count, write)
        if status != _DONE and status != fast.NOT_ACQUIRED:
            self._refused(status, start, count, write)
        return status == _DONE

    def _fast_acquire_for(self, start: int, count: Optional[int], write: bool, seconds: float) -> Optional[int]:
        status = fast.acquire_timeout(self._token, start, count, write, seconds)
        if status != _DONE and status != fast.NOT_ACQUIRED:
            self._refused(status, start, count, write)
        return status

    def _refused(self, status: Optional[int], start: Any, count: Any, write: Any = False) -> None:
        """Raises why a hot call did not do its work: when it returned None (the arguments are not
        the plain case), the argument error as the full path words it; else its stored error."""
        if status is None:
            span(start, count)
            if write.__class__ is not bool:
                raise TypeError(f"write must be a bool, not {type(write).__name__}")
        self._raise_fast_lane_error()

    def _raise_fast_lane_error(self) -> None:
        _call(self._file.raise_fast_lane_error)
        raise RuntimeError("the native call failed without an error")  # pragma: no cover

    async def acquire_async(
        self, start: Start, count: Optional[int] = 1, *, write: bool = False, timeout: Timeout = None
    ) -> bool:
        """Like :meth:`acquire`, without blocking the event loop: the wait happens in a worker
        thread, in the kernel's queue. Cancelling the task stops the wait (within 0.1 s) and leaves
        nothing new held."""
        first, number = span(start, count)
        if write.__class__ is not bool:
            raise TypeError(f"write must be a bool, not {type(write).__name__}")
        seconds = checked_timeout(timeout)
        if self._try(first, number, write):
            return True
        if seconds == 0:
            return False
        deadline = None if seconds is None else time.monotonic() + seconds
        cancelled = threading.Event()

        def wait() -> bool:
            while not cancelled.is_set():
                step = _ASYNC_SLICE if deadline is None else min(_ASYNC_SLICE, max(0.0, deadline - time.monotonic()))
                status = self._fast_acquire_for(first, number, write, step)
                if status == fast.DONE:
                    if cancelled.is_set():
                        self.release(first, number)
                        return False
                    return True
                if deadline is not None and time.monotonic() >= deadline:
                    return False
            return False

        future = _waiters().submit(wait)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            cancelled.set()
            future.add_done_callback(lambda done: self._undo_late_acquire(done, first, number))
            raise

    def _undo_late_acquire(self, done: "concurrent.futures.Future[bool]", start: int, count: Optional[int]) -> None:
        if not done.cancelled() and done.exception() is None and done.result():
            self.release(start, count)

    # ----- guards -------------------------------------------------------------------------------

    def read(self, start: Start, count: Optional[int] = 1, *, timeout: Timeout = None) -> "LockGuard":
        """A context manager (``with`` or ``async with``) holding the locks shared."""
        if timeout is None:
            guard: Optional[LockGuard] = _fast_guard(self, self._token, start, count, False)  # The common case.
            if guard is not None:
                return guard
        return LockGuard(self, start, count, False, timeout)

    def write(self, start: Start, count: Optional[int] = 1, *, timeout: Timeout = None) -> "LockGuard":
        """A context manager (``with`` or ``async with``) holding the locks exclusive."""
        if timeout is None:
            guard: Optional[LockGuard] = _fast_guard(self, self._token, start, count, True)  # The common case.
            if guard is not None:
                return guard
        return LockGuard(self, start, count, True, timeout)

    # ----- releasing ----------------------------------------------------------------------------

    def release(self, start: Optional[Start] = None, count: Optional[int] = 1) -> None:
        """Releases whatever this handle holds in the range; everything when ``start`` is None."""
        status = _fast_release(self._token, start, count)  # The common case, in one call.
        if status == _DONE:
            return
        if status is not None:
            self._raise_fast_lane_error()
        if start is None:
            self.release_all()
            return
        first, number = span(start, count)
        self._release_span(first, number)

    def _release_span(self, start: int, count: Optional[int]) -> None:
        status = _fast_release(self._token, start, count)
        if status != _DONE:
            self._refused(status, start, count)

    def release_all(self) -> None:
        """Releases everything this handle holds."""
        _call(self._file.release_all)

    # ----- introspection ------------------------------------------------------------------------

    def held(self) -> List[Held]:
        """What this handle holds, as coalesced runs in index order."""
        return [Held(int(h.start), h.count, _MODES[h.mode]) for h in _call(self._file.held)]

    def mode_of(self, lock: int) -> Optional[Mode]:
        """The mode this handle holds ``lock`` in, or None."""
        mode = _call(self._file.mode_of, index(lock, "lock"))
        return None if mode is None else _MODES[mode]

    def holders(self, start: Start = 0, count: Optional[int] = None) -> List[Holder]:
        """The locks other owners hold overlapping the range (default: all), with their pids."""
        first, number = span(start, count)
        return [
            Holder(int(h.start), h.count, _MODES[h.mode], _KINDS[h.kind], h.pid)
            for h in _call(self._file.holders, first, number)
        ]

    def is_stale(self) -> bool:
        """Whether the path no longer names the open file (deleted or replaced): locks on it then no
        longer exclude processes that open the path anew."""
        return bool(_call(self._file.is_stale))

    # ----- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Releases every lock and closes the file. Idempotent; later calls raise ClosedError. A
        wait in progress on this handle in another thread ends promptly with ClosedError, holding
        nothing new; ``close`` returns once it has."""
        _call(self._file.close_file)

    def __enter__(self) -> "LocksFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reopen(path: str, scope: Scope, fair: bool = False) -> LocksFile:
    return LocksFile(path, scope=scope, fair=fair)


class LockGuard(fast.GuardBase):
    """Holds a range while a ``with`` / ``async with`` block runs; releases exactly that range.

    Made by :meth:`LocksFile.read` and :meth:`LocksFile.write` (or ``LockGuard(file, start,
    count=1, write=False, timeout=None)``, checked as they check). With a timeout, entering raises
    :class:`LockTimeoutError` if the locks cannot be had in time. Single-use, like
    ``contextlib.contextmanager``'s: entering one that is held, or was already used, raises
    ``RuntimeError`` (take a new one for the next block); so does leaving one that is not held.
    Attributes (read-only): ``file``, ``start``, ``count``, ``write``, ``timeout`` (seconds).
    """

    # __enter__, __exit__ and the attributes are the base's: compiled into the library where it
    # can be (see _fastlane), as they run on every use. lf.read(i)/lf.write(i) make the common guard
    # without calling __init__.
    __slots__ = ()

    file: LocksFile

    if TYPE_CHECKING:  # The base's, as the subclass's users see them.

        def __enter__(self) -> "LockGuard": ...

        def __exit__(self, kind: Optional[Type[BaseException]], value: Optional[BaseException], trace: Optional[TracebackType]) -> None: ...

    def __init__(self, file: LocksFile, start: Start, count: Optional[int] = 1, write: bool = False, timeout: Timeout = None) -> None:
        if not isinstance(file, LocksFile):
            raise TypeError(f"file must be a LocksFile, not {type(file).__name__}")
        first, number = span(start, count)
        if write.__class__ is not bool:
            raise TypeError(f"write must be a bool, not {type(write).__name__}")
        super().__init__(file, first, number, write, checked_timeout(timeout))

    def __repr__(self) -> str:
        mode = "write" if self.write else "read"
        timeout = "" if self.timeout is None else f", timeout={self.timeout}"
        state = ("new", "entering", "held", "used")[self._state]
        return f"<LockGuard {mode} {describe(self.start, self.count)} of {self.file.path}{timeout}, {state}>"

    def _misused(self) -> None:
        """Raises why the guard cannot be entered or left now (a ``RuntimeError``)."""
        state = self._state
        if state == fast._ENTERING:
            raise RuntimeError("this LockGuard is being entered (in another thread or task): a guard is entered once")
        if state == fast._HELD:
            raise RuntimeError("this LockGuard is already held: a guard is entered once; take another with read() or write()")
        if state == fast._DONE:
            raise RuntimeError("this LockGuard was already used: a guard is entered once; take another with read() or write()")
        raise RuntimeError("this LockGuard is not held: it cannot be left before it is entered")
    def _timed_out(self) -> LockTimeoutError:
        mode = "write" if self.write else "read"
        return LockTimeoutError(
            f"could not take a {mode} lock on {describe(self.start, self.count)} of {self.file.path} "
            f"within {self.timeout} s",
            self.file.path,
        )

    def _enter_timed(self) -> "LockGuard":
        """``__enter__`` of a guard with a timeout."""
        if not self.file._acquire_timed(self.start, self.count, self.write, self.timeout):  # type: ignore[arg-type]
            raise self._timed_out()
        return self

    def _refused(self, status: Optional[int]) -> None:
        """Raises why the direct path did not take or release the range (see LocksFile._refused)."""
        self.file._refused(status, self.start, self.count, self.write)

    async def __aenter__(self) -> "LockGuard":
        if self._state != fast._NEW:
            self._misused()
        self._state = fast._ENTERING
        try:
            if not await self.file.acquire_async(self.start, self.count, write=self.write, timeout=self.timeout):
                raise self._timed_out()
        except BaseException:
            self._state = fast._NEW
            raise
        self._state = fast._HELD
        return self

    async def __aexit__(self, kind: Optional[Type[BaseException]], value: Optional[BaseException], trace: Optional[TracebackType]) -> None:
        if self._state != fast._HELD:
            self._misused()
        self._state = fast._DONE
        self.file._release_span(self.start, self.count)


fast.register_guard(LockGuard)
