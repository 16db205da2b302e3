"""Issue 14: ``datetime.timedelta`` timeouts, ``timeout`` with ``blocking=False``, ``closed``, and
guards that cannot be put into surprising states (both guard bases: test-python runs this again
with PYLOCKSFILE_FAST_LANE=ctypes). Exclusion is checked from another process."""

from __future__ import annotations

import asyncio
import math
import pickle
import threading
import time
from datetime import timedelta

import pytest
from conftest import wait_until, waiting_requests

from pylocksfile import InvalidRangeError, InvalidTimeoutError, LockGuard, LocksFile, LockTimeoutError, Mode, _fastlane as fast, index_of

# ----- timedelta timeouts ----------------------------------------------------------------------


def test_a_timedelta_is_a_timeout_everywhere(lock_path, workers):
    holder = workers()
    assert holder.ask("acquire write 3 block") == "ok"
    lf = LocksFile(lock_path)
    began = time.monotonic()
    assert lf.acquire(3, timeout=timedelta(milliseconds=100)) is False
    assert time.monotonic() - began >= 0.09
    assert lf.acquire(3, write=True, blocking=True, timeout=timedelta(0)) is False
    with pytest.raises(LockTimeoutError, match=r"within 0\.05 s"):
        with lf.read(3, timeout=timedelta(milliseconds=50)):
            pass  # pragma: no cover
    with pytest.raises(LockTimeoutError):
        with lf.write(3, timeout=timedelta(seconds=0)):
            pass  # pragma: no cover
    with pytest.raises(LockTimeoutError):
        with LockGuard(lf, 3, timeout=timedelta(milliseconds=10)):
            pass  # pragma: no cover

    async def timed_out() -> bool:
        return await lf.acquire_async(3, timeout=timedelta(milliseconds=50))

    assert asyncio.run(timed_out()) is False
    assert lf.held() == []
    # Free: each form takes the locks, as another process sees.
    assert holder.ask("release 3") == "ok"
    assert lf.acquire(3, write=True, timeout=timedelta(seconds=5)) is True
    assert not holder.can_take("read", "3")
    lf.release(3)
    with lf.write(4, 2, timeout=timedelta(seconds=5)) as guard:
        assert guard.timeout == 5.0
        assert not holder.can_take("read", "5")
    assert holder.can_take("write", "4..6")

    async def taken() -> None:
        async with lf.write(6, timeout=timedelta(seconds=5)):
            assert not await asyncio.get_running_loop().run_in_executor(None, holder.can_take, "read", "6")
        assert await lf.acquire_async(7, write=True, timeout=timedelta(seconds=5))

    asyncio.run(taken())
    assert not holder.can_take("read", "7")
    lf.release(7)
    assert lf.held() == []


def test_a_huge_timedelta_waits_as_long_as_it_takes(lock_path):
    lf = LocksFile(lock_path)
    assert lf.acquire(1, timeout=timedelta.max) is True
    with lf.write(2, timeout=timedelta.max) as guard:
        assert guard.timeout == timedelta.max.total_seconds()
    lf.release(1)


@pytest.mark.parametrize(
    "call",
    [
        lambda lf: lf.acquire(1, timeout=timedelta(seconds=-1)),
        lambda lf: lf.read(1, timeout=timedelta(microseconds=-1)),
        lambda lf: lf.write(1, timeout=timedelta(days=-1)),
        lambda lf: LockGuard(lf, 1, timeout=timedelta(seconds=-2)),
        lambda lf: asyncio.run(lf.acquire_async(1, timeout=timedelta(seconds=-1))),
    ],
)
def test_a_negative_timedelta_is_an_invalid_timeout(lock_path, call):
    lf = LocksFile(lock_path)
    with pytest.raises(InvalidTimeoutError, match="a timeout is a number of seconds, at least 0"):
        call(lf)
    assert lf.held() == []


# ----- timeout with blocking=False ---------------------------------------------------------------


@pytest.mark.parametrize("timeout", [0, 1.5, math.inf, timedelta(seconds=1), -1])
def test_a_timeout_with_blocking_false_is_a_value_error(lock_path, timeout):
    lf = LocksFile(lock_path)
    with pytest.raises(ValueError, match="a non-blocking acquire never waits, so it takes no timeout") as raised:
        lf.acquire(1, write=True, blocking=False, timeout=timeout)
    assert isinstance(raised.value, InvalidTimeoutError)
    assert lf.held() == []
    # Without a timeout (or with None), blocking=False is a try.
    assert lf.acquire(1, write=True, blocking=False, timeout=None) is True
    lf.release(1)


def test_blocking_false_is_checked_as_a_bool_before_the_timeout(lock_path):
    lf = LocksFile(lock_path)
    with pytest.raises(TypeError, match="blocking must be a bool"):
        lf.acquire(1, blocking=0, timeout=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="timeout must be a number of seconds, a datetime.timedelta or None"):
        lf.acquire(1, blocking=False, timeout="1")  # type: ignore[arg-type]


# ----- closed ----------------------------------------------------------------------------------


def test_closed_tells_whether_the_handle_was_closed(lock_path, workers):
    lf = LocksFile(lock_path)
    assert lf.closed is False
    lf.acquire(2, write=True)
    lf.close()
    assert lf.closed is True
    lf.close()  # idempotent
    assert lf.closed is True
    assert workers().can_take("write", "2")
    with LocksFile(lock_path) as other:
        assert other.closed is False
        copy = pickle.loads(pickle.dumps(other))
    assert other.closed is True
    assert copy.closed is False
    copy.close()
    with pytest.raises(AttributeError):
        lf.closed = False  # type: ignore[misc]


def test_closed_is_seen_by_other_threads(lock_path):
    lf = LocksFile(lock_path)
    closer = threading.Thread(target=lf.close)
    closer.start()
    closer.join(10)
    assert lf.closed is True


# ----- guards ----------------------------------------------------------------------------------

ENTERED_TWICE = "this LockGuard is already held: a guard is entered once"
USED = "this LockGuard was already used: a guard is entered once"
NOT_HELD = "this LockGuard is not held: it cannot be left before it is entered"


@pytest.mark.parametrize("timeout", [None, 5])
def test_entering_a_held_guard_again_raises_and_keeps_the_locks(lock_path, workers, timeout):
    holder = workers()
    lf = LocksFile(lock_path)
    guard = lf.write(3, 2, timeout=timeout)
    with guard:
        with pytest.raises(RuntimeError, match=ENTERED_TWICE):
            guard.__enter__()
        with pytest.raises(RuntimeError, match=ENTERED_TWICE):
            with guard:
                pass  # pragma: no cover
        # The refused entries took and released nothing: still held, once.
        assert not holder.can_take("read", "4")
    assert holder.can_take("write", "3..5")
    assert lf.held() == []


@pytest.mark.parametrize("timeout", [None, 5])
def test_a_used_guard_cannot_be_entered_or_left_again(lock_path, workers, timeout):
    holder = workers()
    lf = LocksFile(lock_path)
    guard = lf.read(3, timeout=timeout)
    with guard:
        pass
    with pytest.raises(RuntimeError, match=USED):
        with guard:
            pass  # pragma: no cover
    with pytest.raises(RuntimeError, match=USED):
        guard.__exit__(None, None, None)
    assert lf.held() == []
    assert holder.can_take("write", "3")
    # A lock taken by other means is not released by a stray __exit__.
    lf.acquire(3, write=True)
    with pytest.raises(RuntimeError, match=USED):
        guard.__exit__(None, None, None)
    assert not holder.can_take("read", "3")
    lf.release(3)


def test_a_guard_cannot_be_left_before_it_is_entered(lock_path, workers):
    holder = workers()
    lf = LocksFile(lock_path)
    lf.acquire(1, write=True)
    for guard in (lf.write(1), lf.write(1, timeout=1), LockGuard(lf, 1, write=True)):
        with pytest.raises(RuntimeError, match=NOT_HELD):
            guard.__exit__(None, None, None)
    assert not holder.can_take("read", "1")  # the lock taken by acquire is still held
    assert lf.held()[0].start == 1


def test_a_guard_whose_entry_failed_can_be_entered_again(lock_path, workers):
    holder = workers()
    assert holder.ask("acquire write 8 block") == "ok"
    lf = LocksFile(lock_path)
    guard = lf.write(8, timeout=0.05)
    with pytest.raises(LockTimeoutError):
        guard.__enter__()
    with pytest.raises(RuntimeError, match=NOT_HELD):
        guard.__exit__(None, None, None)
    assert holder.ask("release 8") == "ok"
    with guard:
        assert not holder.can_take("read", "8")
    assert holder.can_take("write", "8")


def test_a_guard_entered_by_another_thread_meanwhile_is_refused(lock_path, workers):
    holder = workers()
    assert holder.ask("acquire write 9 block") == "ok"
    lf = LocksFile(lock_path)
    guard = lf.write(9)
    entered = []
    waiter = threading.Thread(target=lambda: entered.append(guard.__enter__()))
    waiter.start()
    wait_until("the thread waits in the kernel", lambda: waiting_requests(lock_path) == 1)
    with pytest.raises(RuntimeError, match="this LockGuard is being entered"):
        guard.__enter__()
    assert holder.ask("release 9") == "ok"
    waiter.join(10)
    assert entered == [guard]
    assert not holder.can_take("read", "9")
    guard.__exit__(None, None, None)
    assert holder.can_take("write", "9")


def test_async_guards_are_single_use_too(lock_path, workers):
    holder = workers()
    lf = LocksFile(lock_path)

    async def main() -> None:
        guard = lf.write(5)
        async with guard:
            with pytest.raises(RuntimeError, match=ENTERED_TWICE):
                async with guard:
                    pass  # pragma: no cover
            with pytest.raises(RuntimeError, match=ENTERED_TWICE):
                guard.__enter__()  # nor with a plain with
        with pytest.raises(RuntimeError, match=USED):
            async with guard:
                pass  # pragma: no cover
        with pytest.raises(RuntimeError, match=NOT_HELD):
            await lf.read(5).__aexit__(None, None, None)

    asyncio.run(main())
    assert lf.held() == []
    assert holder.can_take("write", "5")


def test_a_timed_out_async_guard_can_be_entered_again(lock_path, workers):
    holder = workers()
    assert holder.ask("acquire write 6 block") == "ok"
    lf = LocksFile(lock_path)

    async def main() -> None:
        guard = lf.read(6, timeout=timedelta(milliseconds=50))
        with pytest.raises(LockTimeoutError):
            async with guard:
                pass  # pragma: no cover
        await asyncio.get_running_loop().run_in_executor(None, holder.ask, "release 6")
        async with guard:
            assert not await asyncio.get_running_loop().run_in_executor(None, holder.can_take, "write", "6")

    asyncio.run(main())
    assert holder.can_take("write", "6")


def test_lock_guard_checks_its_arguments_as_read_and_write_do(lock_path, workers):
    lf = LocksFile(lock_path)
    cases = [
        (lambda: LockGuard(object(), 1), TypeError, "file must be a LocksFile, not object"),  # type: ignore[arg-type]
        (lambda: LockGuard(lf, -1), InvalidRangeError, "start must not be negative"),
        (lambda: LockGuard(lf, 0, 0), InvalidRangeError, "count must be at least 1"),
        (lambda: LockGuard(lf, 1.5), TypeError, "start must be an int"),  # type: ignore[arg-type]
        (lambda: LockGuard(lf, 1, 1, 1), TypeError, "write must be a bool, not int"),  # type: ignore[arg-type]
        (lambda: LockGuard(lf, 1, 1, True, -1), InvalidTimeoutError, "invalid timeout -1"),
        (lambda: LockGuard(lf, 1, 1, True, "5"), TypeError, "timeout must be a number"),  # type: ignore[arg-type]
        (lambda: LockGuard(lf, 1, 1, True, None, 5), TypeError, "positional argument"),  # type: ignore[call-arg]
    ]
    for call, kind, words in cases:
        with pytest.raises(kind, match=words):
            call()
    # Made directly, with what read()/write() take: a range, a name, a timedelta.
    holder = workers()
    guard = LockGuard(lf, range(10, 12), write=True, timeout=timedelta(seconds=5))
    assert (guard.start, guard.count, guard.write, guard.timeout) == (10, 2, True, 5.0)
    with guard:
        assert not holder.can_take("read", "11")
    named = LockGuard(lf, "dataset-42")
    assert (named.start, named.count, named.write, named.timeout) == (index_of("dataset-42"), 1, False, None)
    assert holder.can_take("write", "10..12")


def test_a_guard_is_initialised_once(lock_path, workers):
    holder = workers()
    lf = LocksFile(lock_path)
    for guard in (lf.write(1), LockGuard(lf, 1, write=True)):
        with pytest.raises(RuntimeError, match="a LockGuard is initialised once"):
            guard.__init__(lf, 2, 1, True, None)  # type: ignore[misc]
        with guard:  # still the range it was made for
            assert not holder.can_take("read", "1")
            assert holder.can_take("write", "2")
    assert lf.held() == []


def test_guard_attributes_are_read_only_on_both_paths(lock_path):
    lf = LocksFile(lock_path)
    guard = lf.write(3)
    for name, value in [("file", lf), ("start", 9), ("count", 2), ("write", False), ("timeout", 1.0)]:
        with pytest.raises(AttributeError):
            setattr(guard, name, value)
    assert (guard.start, guard.count, guard.write, guard.timeout) == (3, 1, True, None)
    assert "write 3" in repr(guard) and "new" in repr(guard)
    with guard:
        assert "held" in repr(guard)
    assert "used" in repr(guard)


def test_an_uninitialised_guard_raises_instead_of_crashing():
    guard = LockGuard.__new__(LockGuard)
    with pytest.raises(TypeError, match="not initialised"):
        guard.__enter__()
    with pytest.raises(TypeError, match="not initialised"):
        guard.__exit__(None, None, None)


def test_the_implementation_under_test_is_named():
    assert fast.implementation in ("compiled", "ctypes")


def test_a_guard_is_neither_copied_nor_pickled(lock_path):
    import copy

    lf = LocksFile(lock_path)
    guard = lf.write(3)
    with guard:
        for attempt in (copy.copy, copy.deepcopy, pickle.dumps):
            with pytest.raises(TypeError):
                attempt(guard)
        assert lf.mode_of(3) is Mode.WRITE
    assert lf.held() == []
