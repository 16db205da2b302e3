"""The hot calls (acquire, try, release), which skip uniffi's generated wrapper: it clones the
object handle through a second native call and builds a call-status structure on every call.

Two implementations of one interface, both reaching the same core through the same library file
(the one the generated module loaded) and the same plain functions of its direct path
(bindings/ffi/src/fast_lane.rs, whose constants bindings/ffi/tests/fast_lane_copies.rs checks
these against):

- ``compiled``: the CPython entry point compiled into that library (bindings/ffi/src/python.rs),
  imported from the same file, so the same image: tens of ns per call. CPython 3.10 or later
  (the stable ABI's ``METH_FASTCALL``), not free-threaded.
- ``ctypes``: the same C functions through ``ctypes`` with preset argument types (~600 ns per
  call): PyPy, CPython 3.9, free-threaded builds, and ``PYLOCKSFILE_FAST_LANE=ctypes``.

Interface (``start``/``count`` any objects, ``count`` None for every lock from ``start`` on):
``acquire(token, start, count, write)`` waits as long as it takes; ``try_acquire(token, start,
count, write)`` never waits; ``acquire_timeout(token, start, count, write, seconds)`` waits at
most ``seconds``; ``release(token, start, count)``. Each returns ``DONE``, ``NOT_ACQUIRED`` (a
conflict or the deadline) or ``FAILED`` (the error is stored for the generated
``raise_fast_lane_error``, which raises it as the generated path would), or ``None``, having done
nothing, when the arguments are not the plain case (exact ints, ``write`` exactly a bool, a range
the library accepts): the caller then checks them and words the error, or calls again with the
checked values. A signal that interrupts a wait runs Python's handlers; one that raises (Ctrl-C)
ends the call with its exception, holding nothing new, else the wait goes on for what is left of
its time. Waits let go of the GIL.

Guards: ``GuardBase`` is the base class of ``LockGuard`` (attributes ``file``, ``start``,
``count``, ``write``, ``timeout``, ``_token``, read-only; ``__init__(file, start, count, write,
timeout)``, once; ``__enter__`` and ``__exit__``, which call the subclass's ``_enter_timed()`` for a
guard with a timeout, its ``_refused(status)``, which raises, when the direct path did not do the
work, and its ``_misused()``, which raises, on ``__enter__`` of a guard that is not new or
``__exit__`` of one not held: a guard is single-use, its writable ``_state`` going ``_NEW`` →
``_ENTERING`` → ``_HELD`` → ``_DONE``, back to ``_NEW`` when entering fails).
``register_guard(cls)`` names that subclass once; ``guard(file, token, start, count, write)`` then
makes one without a timeout, or returns ``None`` when the arguments are not the plain case.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import importlib.util
import os
import sys
import time
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Optional, Type

from ._native import locksfile as _gen

DONE = 1
NOT_ACQUIRED = 0
FAILED = -1
INTERRUPTED = -2

WRITE = 1
BLOCK = 2
TO_END = 4
START_SIGNED = 8

# The very library the generated module loaded (dlopen of the same path returns the same handle).
library_path = os.path.join(os.path.dirname(_gen.__file__), "liblocksfile_ffi.so")
_library = ctypes.CDLL(library_path)

# Each argument costs ctypes a conversion (~0.3 µs here): the hot functions take few.
_c_acquire = _library.locksfile_fast_acquire
_c_acquire.argtypes = (ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32)
_c_acquire.restype = ctypes.c_int32

_c_acquire_timeout = _library.locksfile_fast_acquire_timeout
_c_acquire_timeout.argtypes = (ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_double)
_c_acquire_timeout.restype = ctypes.c_int32

_c_release = _library.locksfile_fast_release
_c_release.argtypes = (ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32)
_c_release.restype = ctypes.c_int32


def _no_pending_handlers() -> int:
    """PyPy (no ``ctypes.pythonapi``) runs signal handlers at its next check point by itself."""
    return 0


_check_signals: Callable[[], int] = _no_pending_handlers
if hasattr(ctypes, "pythonapi"):
    # Runs pending Python signal handlers now; raises what a handler raised (KeyboardInterrupt...).
    _check_signals = ctypes.pythonapi.PyErr_CheckSignals
    _check_signals.argtypes = ()  # type: ignore[attr-defined]
    _check_signals.restype = ctypes.c_int  # type: ignore[attr-defined]

_end = 2**63  # One past the largest lock index.


def _ctypes_plain_range(start: Any, count: Any) -> bool:
    if start.__class__ is not int:
        return False
    if count is None:
        return 0 <= start < _end
    return count.__class__ is int and 0 <= start and 0 < count and start + count <= _end


def _ctypes_flags(start: Any, count: Any, write: Any, flags: int) -> int:
    """``flags`` for the C functions, with ``write`` and an open end (``count`` None, passed as 0)
    folded in; -1 when the arguments are not the plain case."""
    if write is True:
        flags |= WRITE
    elif write is not False:
        return -1
    if not _ctypes_plain_range(start, count):
        return -1
    return flags | TO_END if count is None else flags


def _ctypes_acquire(token: int, start: Any, count: Any, write: Any) -> Optional[int]:
    flags = _ctypes_flags(start, count, write, BLOCK)
    if flags < 0:
        return None
    status: int = _c_acquire(token, start, count or 0, flags)
    while status == INTERRUPTED:
        _check_signals()  # Runs the handlers (a raise ends the wait), then waits again (PEP 475).
        status = _c_acquire(token, start, count or 0, flags)
    return status


def _ctypes_try_acquire(token: int, start: Any, count: Any, write: Any) -> Optional[int]:
    flags = _ctypes_flags(start, count, write, 0)
    if flags < 0:
        return None
    status: int = _c_acquire(token, start, count or 0, flags)
    return status


def _ctypes_acquire_timeout(token: int, start: Any, count: Any, write: Any, seconds: float) -> Optional[int]:
    flags = _ctypes_flags(start, count, write, 0)
    if flags < 0:
        return None
    began = time.monotonic()
    status: int = _c_acquire_timeout(token, start, count or 0, flags, seconds)
    while status == INTERRUPTED:
        _check_signals()
        status = _c_acquire_timeout(token, start, count or 0, flags, max(0.0, began + seconds - time.monotonic()))
    return status


def _ctypes_release(token: int, start: Any, count: Any) -> Optional[int]:
    flags = _ctypes_flags(start, count, False, 0)
    if flags < 0:
        return None
    status: int = _c_release(token, start, count or 0, flags)
    return status


_NEW, _ENTERING, _HELD, _DONE = 0, 1, 2, 3  # A guard's ``_state`` (see bindings/ffi/src/python/guard.rs).


class _Guard:
    """The guards' base class on the ctypes path: the compiled module's ``Guard``, in Python
    (read-only attributes, initialised once, single-use ``_state``)."""

    __slots__ = ("_file", "_start", "_count", "_write", "_timeout", "_token", "_state")

    _file: Any  # the LocksFile (typed in the subclass: _locksfile imports this module)
    _start: int
    _count: Optional[int]
    _write: bool
    _timeout: Optional[float]
    _token: int
    _state: int

    def __init__(self, file: Any, start: int, count: Optional[int], write: bool, timeout: Optional[float]) -> None:
        if hasattr(self, "_file"):
            raise RuntimeError("a LockGuard is initialised once")
        token = file._token
        self._file = file
        self._start = start
        self._count = count
        self._write = bool(write)
        self._timeout = timeout
        self._token = token
        self._state = _NEW

    # A copy would be a second guard of the same locks (its exit releasing the other's), and a
    # pickle one of another handle: neither is a guard (as on the compiled path, a TypeError).
    def __copy__(self) -> Any:
        raise TypeError("a LockGuard cannot be copied")

    def __deepcopy__(self, memo: Any) -> Any:
        raise TypeError("a LockGuard cannot be copied")

    def __reduce__(self) -> Any:
        raise TypeError("a LockGuard cannot be pickled")

    @property
    def file(self) -> Any:
        return self._file

    @property
    def start(self) -> int:
        return self._start

    @property
    def count(self) -> Optional[int]:
        return self._count

    @property
    def write(self) -> bool:
        return self._write

    @property
    def timeout(self) -> Optional[float]:
        return self._timeout

    def __enter__(self) -> Any:
        try:
            state = self._state
        except AttributeError:
            raise TypeError("the LockGuard was not initialised") from None
        if state != _NEW:
            self._misused()
        self._state = _ENTERING
        try:
            if self._timeout is not None:
                entered = self._enter_timed()
            else:
                status = _ctypes_acquire(self._token, self._start, self._count, self._write)
                if status != DONE:
                    self._refused(status)
                entered = self
        except BaseException:
            self._state = _NEW
            raise
        self._state = _HELD
        return entered

    def __exit__(self, *exc: object) -> None:
        try:
            state = self._state
        except AttributeError:
            raise TypeError("the LockGuard was not initialised") from None
        if state != _HELD:
            self._misused()
        self._state = _DONE
        status = _ctypes_release(self._token, self._start, self._count)
        if status != DONE:
            self._refused(status)

    def _enter_timed(self) -> Any:
        raise NotImplementedError  # the subclass's

    def _refused(self, status: Optional[int]) -> None:
        raise NotImplementedError  # the subclass's

    def _misused(self) -> None:
        raise NotImplementedError  # the subclass's


_guard_class: Optional[Type[_Guard]] = None
_new_guard = object.__new__


def _ctypes_register_guard(cls: Type[_Guard]) -> None:
    global _guard_class
    _guard_class = cls


def _ctypes_guard(file: Any, token: int, start: Any, count: Any, write: Any) -> Optional[_Guard]:
    if write.__class__ is not bool or not _ctypes_plain_range(start, count):
        return None
    guard: _Guard = _new_guard(_guard_class)
    guard._file = file
    guard._start = start
    guard._count = count
    guard._write = write
    guard._timeout = None
    guard._token = token
    guard._state = _NEW
    return guard


def _compiled() -> Optional[ModuleType]:
    """The entry point compiled into the library, where the stable ABI it is built for holds."""
    if os.environ.get("PYLOCKSFILE_FAST_LANE", "") == "ctypes":
        return None
    if sys.implementation.name != "cpython" or sys.version_info < (3, 10):
        return None
    if ".abi3.so" not in importlib.machinery.EXTENSION_SUFFIXES:
        return None  # A free-threaded or trace-refs build: another object layout.
    # The module name's last part names the entry point (PyInit_fast_lane). The loader maps the
    # file the generated module loaded, which dlopen finds already loaded: one image, one core.
    name = f"{_gen.__name__.rpartition('.')[0]}.fast_lane"
    loader = importlib.machinery.ExtensionFileLoader(name, library_path)
    spec = importlib.util.spec_from_file_location(name, library_path, loader=loader)
    if spec is None:  # pragma: no cover - a file location always makes a spec
        return None
    try:
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
    except (ImportError, SystemError):  # Built without the entry point, or not a CPython it fits.
        return None
    return module


_module = _compiled()

acquire: Callable[[int, Any, Any, Any], Optional[int]]
try_acquire: Callable[[int, Any, Any, Any], Optional[int]]
acquire_timeout: Callable[[int, Any, Any, Any, float], Optional[int]]
release: Callable[[int, Any, Any], Optional[int]]
guard: Callable[[Any, int, Any, Any, Any], Optional[Any]]
register_guard: Callable[[Type[_Guard]], None]

if TYPE_CHECKING:
    GuardBase = _Guard
else:
    GuardBase = _Guard if _module is None else _module.Guard

if _module is not None:
    implementation = "compiled"
    acquire = _module.acquire
    try_acquire = _module.try_acquire
    acquire_timeout = _module.acquire_timeout
    release = _module.release
    guard = _module.guard
    register_guard = _module.register_guard
else:
    implementation = "ctypes"
    acquire = _ctypes_acquire
    try_acquire = _ctypes_try_acquire
    acquire_timeout = _ctypes_acquire_timeout
    release = _ctypes_release
    guard = _ctypes_guard
    register_guard = _ctypes_register_guard
