"""Argument checks: bad input is a ``TypeError`` or, for indices and counts out of bounds, an
``InvalidRangeError`` (a ``ValueError``) naming the argument, before any call reaches the native
library."""

from __future__ import annotations

import operator
from typing import Optional, Tuple, Union

from ._errors import InvalidRangeError

MAX_INDEX = 2**63 - 1
"""The largest lock index (the largest ``off_t``)."""

Start = Union[int, range]


def _integer(value: object, name: str, kind: str) -> int:
    """An int that is not a bool (``operator.index`` accepts numpy integers and the like)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be {kind}, not bool")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be {kind}, not {type(value).__name__}") from None


def index(value: object, name: str) -> int:
    """A lock index: an int (not a bool) from 0 to MAX_INDEX."""
    number = _integer(value, name, "an int")
    if number < 0:
        raise InvalidRangeError(f"{name} must be >= 0, got {number}")
    if number > MAX_INDEX:
        raise InvalidRangeError(f"{name} must be at most {MAX_INDEX}, got {number}")
    return number


def count_of(value: object, name: str) -> Optional[int]:
    """A count of locks (>= 1), or None for every lock from the start on."""
    if value is None:
        return None
    number = _integer(value, name, "an int or None")
    if number < 1:
        raise InvalidRangeError(f"{name} must be >= 1 (or None for every lock from start on), got {number}")
    return number


def span(start: object, count: object = 1, start_name: str = "start", count_name: str = "count") -> Tuple[int, Optional[int]]:
    """``(start, count)`` from an index and a count, or from a ``range`` with step 1."""
    if type(start) is int and type(count) is int and 0 <= start and 0 < count and start + count <= _END:
        return start, count  # The common case, checked in one expression (a hot path).
    return _span(start, count, start_name, count_name)


_END = MAX_INDEX + 1


def _span(start: object, count: object, start_name: str, count_name: str) -> Tuple[int, Optional[int]]:
    if isinstance(start, range):
        if count != 1:
            raise TypeError(f"give either a range or {start_name} and {count_name}, not both")
        if start.step != 1:
            raise InvalidRangeError(f"{start_name} range must have step 1, got {start.step}")
        if len(start) == 0:
            raise InvalidRangeError(f"{start_name} range must not be empty, got {start!r}")
        return span(start.start, len(start), start_name, count_name)
    first = index(start, start_name)
    number = count_of(count, count_name)
    if number is not None and number - 1 > MAX_INDEX - first:
        raise InvalidRangeError(
            f"{start_name} + {count_name} - 1 must not exceed {MAX_INDEX}, got {start_name}={first}, {count_name}={number}"
        )
    return first, number


def timeout_of(value: object) -> Optional[float]:
    """A timeout in seconds (>= 0), or None for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(value).__name__}")
    if value != value or value < 0:
        raise ValueError(f"timeout must be >= 0 seconds, got {value}")
    return float(value)


def describe(start: int, count: Optional[int]) -> str:
    """``5``, ``1..4`` or ``7..`` as in the core's messages."""
    if count is None:
        return f"{start}.."
    if count == 1:
        return str(start)
    return f"{start}..{start + count}"
