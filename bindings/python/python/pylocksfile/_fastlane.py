"""The direct C call path for the hot operations (see bindings/ffi/src/fast_lane.rs, whose constants
bindings/ffi/tests/fast_lane_copies.rs checks these against).

uniffi's generated Python wrapper clones the object handle through a second native call and builds a
call-status structure on every call; acquire and release go through these plain functions instead,
bound once with preset argument types. Errors are raised by the generated ``raise_fast_lane_error``,
so they are the same exceptions with the same messages as on the generated path.
"""

from __future__ import annotations

import ctypes
import os

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
_library = ctypes.CDLL(os.path.join(os.path.dirname(_gen.__file__), "liblocksfile_ffi.so"))

# Each argument costs ctypes a conversion (~0.3 µs here): the hot functions take few.
acquire = _library.locksfile_fast_acquire
acquire.argtypes = (ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32)
acquire.restype = ctypes.c_int32

acquire_timeout = _library.locksfile_fast_acquire_timeout
acquire_timeout.argtypes = (ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_double)
acquire_timeout.restype = ctypes.c_int32

release = _library.locksfile_fast_release
release.argtypes = (ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32)
release.restype = ctypes.c_int32

# Runs pending Python signal handlers now; raises what a handler raised (KeyboardInterrupt...).
check_signals = ctypes.pythonapi.PyErr_CheckSignals
check_signals.argtypes = ()
check_signals.restype = ctypes.c_int
