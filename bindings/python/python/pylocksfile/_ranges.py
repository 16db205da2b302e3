"""Arguments into the shapes the native library takes. Types are checked here (a ``TypeError``);
values are validated by the library, in Rust, which words every range and timeout error the same in
every language (an ``InvalidRangeError`` or ``InvalidTimeoutError``, both ``ValueError``)."""

from __future__ import annotations

import datetime
import math
import operator
from typing import Optional, Tuple, Union

from ._errors import InvalidRangeError, reraise
from ._native import locksfile as _gen

MAX_INDEX = 2**63 - 1
"""The largest lock index (the largest ``off_t``)."""

Start = Union[int, range, str]

Timeout = Union[float, datetime.timedelta, None]
"""A timeout: seconds (an int or a float; ``math.inf`` for no limit), a ``datetime.timedelta``, or
None for no limit."""

_END = MAX_INDEX + 1


def _integer(value: object, name: str, kind: str) -> int:
    """An int that is not a bool (``operator.index`` accepts numpy integers and the like)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be {kind}, not bool")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be {kind}, not {type(value).__name__}") from None


def _checked(start: int, count: Optional[int]) -> Tuple[int, Optional[int]]:
    """The range as the library validates it (any size of int: passed in decimal)."""
    try:
        checked = _gen.check_range(str(start), None if count is None else str(count))
    except _gen.LocksFileError as error:
        reraise(error)
    return int(checked.start), None if checked.count is None else int(checked.count)


def span(start: object, count: object = 1, start_name: str = "start", count_name: str = "count") -> Tuple[int, Optional[int]]:
    """``(start, count)`` from an index and a count (None: every lock from start on), or from a
    ``range`` with step 1."""
    if type(start) is int and type(count) is int and 0 <= start and 0 < count and start + count <= _END:
        return start, count  # The common case, valid on sight (a hot path).
    if isinstance(start, str):
        if count != 1 and count is not None:
            raise TypeError(f"a name is one lock: give {start_name} alone, not a {count_name}")
        return index_of(start), 1
    if isinstance(start, range):
        if count != 1:
            raise TypeError(f"give either a range or {start_name} and {count_name}, not both")
        if start.step != 1:
            raise InvalidRangeError(f"{start_name} range must have step 1, got {start.step}")
        return span(start.start, len(start), start_name, count_name)
    first = _integer(start, start_name, "an int")
    number = None if count is None else _integer(count, count_name, "an int or None")
    return _checked(first, number)


def index_of(name: str) -> int:
    """The lock index of ``name``: the same in every language (computed by the library, in Rust, from
    the name's UTF-8 bytes; in ``2**61 .. 2**62 - 1``)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    return int(_gen.index_of(name))


def index(value: object, name: str) -> int:
    """A lock index (validated like the range of that one lock)."""
    return span(value, 1, name)[0]


def timeout_of(value: object) -> Optional[float]:
    """A timeout in seconds (None: no limit) as a float: ``inf`` for numbers too large for one; a
    ``datetime.timedelta`` in its seconds. Negative and NaN values go on to the library, which
    refuses them."""
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, a datetime.timedelta or None, not {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def checked_timeout(value: object) -> Optional[float]:
    """A timeout as :func:`timeout_of` gives it, validated by the library now."""
    seconds = timeout_of(value)
    if seconds is not None:
        try:
            _gen.check_timeout(seconds)
        except _gen.LocksFileError as error:
            reraise(error)
    return seconds


def checked_blocking_timeout(blocking: bool, value: object) -> Optional[float]:
    """A timeout as :func:`checked_timeout` gives it, for an acquire that waits only when
    ``blocking``: the library refuses one given to a non-blocking acquire (as ``threading.Lock``
    does, a ``ValueError``)."""
    seconds = timeout_of(value)
    if seconds is not None:
        try:
            _gen.check_blocking_timeout(blocking, seconds)
        except _gen.LocksFileError as error:
            reraise(error)
    return seconds


def describe(start: int, count: Optional[int]) -> str:
    """``5``, ``1..4`` or ``7..`` as in the core's messages."""
    if count is None:
        return f"{start}.."
    if count == 1:
        return str(start)
    return f"{start}..{start + count}"
