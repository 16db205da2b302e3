"""pylocksfile: indexed inter-process read/write locks for Linux, on fcntl byte-range locks.

Lock ``i`` is byte ``i`` of a lock file: any process may open the same file and take locks by number,
shared (read) or exclusive (write), one index or an interval in one atomic call. The kernel frees a
dead process's locks.

New code::

    from pylocksfile import LocksFile
    lf = LocksFile("data.lock")
    with lf.write(1, 3):        # locks 1, 2, 3 exclusive
        ...
    with lf.read(0):            # lock 0 shared
        ...

The original API (``from pylocksfile import pylocksfile``) keeps working.
"""

from ._errors import (
    ClosedError,
    DeadlockError,
    InvalidRangeError,
    InvalidTimeoutError,
    LockFileIsDirectoryError,
    LockFileNotFoundError,
    LockInterruptedError,
    LocksFileError,
    LocksFileOSError,
    LockTimeoutError,
    MissingDirectoryError,
    NoLocksAvailableError,
    NotWritableError,
)
from ._native import locksfile as _gen
from ._locksfile import Held, Holder, LockGuard, LocksFile, Mode, Scope
from ._ranges import MAX_INDEX, index_of
from ._seed import IllegalArgumentError, pylocksfile

__version__: str = _gen.version()
"""The version of the library (the Rust workspace's, which the distribution's version also is)."""

__all__ = [
    "LocksFile",
    "LockGuard",
    "Mode",
    "Scope",
    "Held",
    "Holder",
    "MAX_INDEX",
    "index_of",
    "pylocksfile",
    "IllegalArgumentError",
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
