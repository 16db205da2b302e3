"""The Pythonic API, observed from other processes."""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest

from pylocksfile import (
    ClosedError,
    Held,
    InvalidRangeError,
    InvalidTimeoutError,
    LockFileIsDirectoryError,
    LockFileNotFoundError,
    LockGuard,
    LocksFile,
    LocksFileError,
    LockTimeoutError,
    MAX_INDEX,
    MissingDirectoryError,
    Mode,
    NotWritableError,
    Scope,
)


def test_guards_hold_exactly_their_range(lock_path, workers):
    outside = workers()
    lf = LocksFile(lock_path)
    with lf.write(1, 3) as guard:
        assert (guard.start, guard.count) == (1, 3)
        assert not outside.can_take("read", "1") and not outside.can_take("read", "3")
        assert outside.can_take("write", "0") and outside.can_take("write", "4")
        with lf.read(10):
            assert outside.can_take("read", "10") and not outside.can_take("write", "10")
        assert outside.can_take("write", "10")
    assert outside.can_take("write", "1..4")
    with lf.write(range(20, 23)):
        assert not outside.can_take("read", "22")
    with lf.write(100, None):
        assert not outside.can_take("read", "1000000")


def test_an_interval_is_all_or_nothing(lock_path, workers):
    holder, checker = workers(), workers()
    assert holder.ask("acquire write 3 block") == "ok"
    lf = LocksFile(lock_path)
    assert lf.try_acquire(0, 5, write=True) is False
    assert lf.held() == []
    assert checker.can_take("write", "0")
    assert holder.ask("release 3") == "ok"
    assert lf.try_acquire(0, 5, write=True) is True
    assert not checker.can_take("read", "4")


def test_conversion_in_place(lock_path, workers):
    outside = workers()
    lf = LocksFile(lock_path)
    lf.acquire(1, 3, write=True)
    lf.acquire(2, write=False)
    assert lf.held() == [Held(1, 1, Mode.WRITE), Held(2, 1, Mode.READ), Held(3, 1, Mode.WRITE)]
    assert lf.mode_of(2) is Mode.READ and lf.mode_of(0) is None
    assert outside.can_take("read", "2") and not outside.can_take("write", "2")
    assert not outside.can_take("read", "1")
    # An upgrade waits for the other reader.
    assert outside.ask("acquire read 2 block") == "ok"
    assert lf.acquire(2, write=True, timeout=0.2) is False
    assert lf.mode_of(2) is Mode.READ, "a refused upgrade keeps the read lock"
    assert outside.ask("release 2") == "ok"
    assert lf.acquire(2, write=True, timeout=5) is True
    assert lf.held() == [Held(1, 3, Mode.WRITE)]


def test_timeouts(lock_path, workers):
    holder = workers()
    assert holder.ask("acquire write 7 block") == "ok"
    lf = LocksFile(lock_path)
    began = time.monotonic()
    assert lf.acquire(7, write=True, timeout=0.3) is False
    # Not before the deadline, and not far past it either (a generous bound: the machine is shared;
    # it catches a wait that the deadline did not end).
    assert 0.3 <= time.monotonic() - began < 10
    assert lf.acquire(7, timeout=0) is False
    with pytest.raises(LockTimeoutError, match=r"write lock on 7 .* within 0.2 s") as raised:
        with lf.write(7, timeout=0.2):
            pass
    assert isinstance(raised.value, TimeoutError)
    holder.send("release 7")
    assert holder.reply() == "ok"
    with lf.write(7, timeout=5):
        assert not holder.can_take("read", "7")


def test_release_all_and_close(lock_path, workers):
    outside = workers()
    lf = LocksFile(lock_path)
    lf.acquire(0, 3, write=True)
    lf.acquire(50, None)
    lf.release_all()
    assert lf.held() == [] and outside.can_take("write", "0..")
    lf.acquire(5, write=True)
    lf.release()  # None: everything
    assert outside.can_take("write", "5")
    with LocksFile(lock_path) as scoped:
        scoped.acquire(9, write=True)
        assert not outside.can_take("read", "9")
    assert outside.can_take("write", "9")
    with pytest.raises(ClosedError, match="closed"):
        scoped.acquire(1)
    with pytest.raises(ClosedError):
        scoped.release(1)
    scoped.close()  # idempotent


def test_holders_name_other_processes(lock_path, workers):
    ofd, classic = workers(), workers("process")
    assert ofd.ask("acquire write 5 block") == "ok"
    assert classic.ask("acquire read 8..10 block") == "ok"
    lf = LocksFile(lock_path)
    lf.acquire(20, write=True)
    holders = sorted(lf.holders(), key=lambda h: h.start)
    assert [(h.start, h.count, h.mode, h.kind, h.pid) for h in holders] == [
        (5, 1, Mode.WRITE, "open-file", ofd.pid),
        (8, 2, Mode.READ, "process", classic.pid),
    ]
    assert lf.holders(11, 9) == []


def test_process_scope_handles_share_and_deadlocks_are_errors(lock_path, workers):
    from pylocksfile import DeadlockError

    other = workers("process")
    first = LocksFile(lock_path, scope=Scope.PROCESS)
    second = LocksFile(lock_path, scope=Scope.PROCESS)
    first.acquire(1, write=True)
    assert second.try_acquire(1, write=True), "one process: handles share the locks"
    second.release(1)
    assert not other.can_take("read", "1"), "releasing through one handle keeps the other's lock"
    assert other.ask("acquire write 2 block") == "ok"
    other.send("acquire write 1 block")
    other.assert_blocked()
    with pytest.raises(DeadlockError, match="deadlock"):
        first.acquire(2, write=True)
    first.release_all()
    assert other.reply() == "ok"


def test_open_file_handles_exclude_each_other_in_one_process(lock_path):
    first, second = LocksFile(lock_path), LocksFile(lock_path)
    first.acquire(1, write=True)
    assert second.try_acquire(1) is False
    first.release(1)
    assert second.try_acquire(1) is True


def test_opening_errors_are_typed(tmp_path):
    with pytest.raises(MissingDirectoryError, match="no-such-dir") as raised:
        LocksFile(tmp_path / "no-such-dir" / "x.lock")
    assert isinstance(raised.value, FileNotFoundError) and isinstance(raised.value, LocksFileError)
    with pytest.raises(LockFileNotFoundError, match="absent.lock"):
        LocksFile(tmp_path / "absent.lock", create=False)
    with pytest.raises(LockFileIsDirectoryError) as raised:
        LocksFile(tmp_path)
    assert isinstance(raised.value, IsADirectoryError)


def test_a_read_only_file_refuses_write_locks_by_name():
    # Root may write anything: the child drops to "nobody", who must reach the file (pytest's
    # tmp_path lies under a 0700 directory).
    directory = tempfile.mkdtemp(prefix="pylocksfile-ro-")
    os.chmod(directory, 0o755)
    path = os.path.join(directory, "ro.lock")
    open(path, "w").close()
    os.chmod(path, 0o444)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            lf = LocksFile(path)
            lf.acquire(0)
            try:
                lf.acquire(1, write=True)
            except NotWritableError as error:
                code = 0 if ("ro.lock" in str(error) and isinstance(error, PermissionError) and not lf.writable) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    shutil.rmtree(directory)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_replaced_file_is_stale(tmp_path):
    path = tmp_path / "x.lock"
    lf = LocksFile(path)
    assert lf.is_stale() is False
    os.rename(LocksFile(tmp_path / "y.lock").path, path)
    assert lf.is_stale() is True


@pytest.mark.parametrize(
    "call, kind, words",
    [
        (lambda lf: lf.acquire(b"1"), TypeError, "start must be an int, not bytes"),
        (lambda lf: lf.acquire(1.0), TypeError, "start must be an int, not float"),
        (lambda lf: lf.acquire(True), TypeError, "start must be an int, not bool"),
        (lambda lf: lf.acquire(-1), InvalidRangeError, r"\(start -1, count 1\): start must not be negative"),
        (lambda lf: lf.acquire(1, 0), InvalidRangeError, r"\(start 1, count 0\): count must be at least 1"),
        (lambda lf: lf.acquire(1, -3), InvalidRangeError, r"count -3\): count must be at least 1"),
        (lambda lf: lf.acquire(1, False), TypeError, "count must be an int or None, not bool"),
        (lambda lf: lf.acquire(MAX_INDEX + 1), InvalidRangeError, "start must not exceed 9223372036854775807"),
        (lambda lf: lf.acquire(2**64 + 5), InvalidRangeError, "start 18446744073709551621, count 1"),
        (lambda lf: lf.acquire(0, -(2**70)), InvalidRangeError, "count -1180591620717411303424"),
        (lambda lf: lf.acquire(MAX_INDEX, 2), InvalidRangeError, "the last index must not exceed 9223372036854775807"),
        (lambda lf: lf.acquire(1, write=1), TypeError, "write must be a bool"),
        (lambda lf: lf.acquire(1, blocking=None), TypeError, "blocking must be a bool"),
        (lambda lf: lf.acquire(1, timeout=-1), InvalidTimeoutError, "a timeout is a number of seconds, at least 0"),
        (lambda lf: lf.acquire(1, timeout=float("nan")), InvalidTimeoutError, "invalid timeout NaN"),
        (lambda lf: lf.write(1, timeout=-0.5), InvalidTimeoutError, "invalid timeout -0.5"),
        (lambda lf: lf.read(1, timeout=-(10**400)), InvalidTimeoutError, "invalid timeout -inf"),
        (lambda lf: lf.acquire(1, timeout="1"), TypeError, "timeout must be a number"),
        (lambda lf: lf.try_acquire(range(5, 5)), InvalidRangeError, "count must be at least 1"),
        (lambda lf: lf.try_acquire(range(0, 10, 2)), InvalidRangeError, "step 1"),
        (lambda lf: lf.write(None), TypeError, "start must be an int, not NoneType"),
        (lambda lf: lf.release(-5), InvalidRangeError, "start must not be negative"),
        (lambda lf: lf.mode_of(1.5), TypeError, "lock must be an int"),
        (lambda lf: lf.holders(0, 0), InvalidRangeError, "count must be at least 1"),
        (lambda lf: lf.mode_of(-1), InvalidRangeError, "start must not be negative"),
        (lambda lf: LockGuard(lf, 0, 0, True, None).__enter__(), InvalidRangeError, "count must be at least 1"),
    ],
)
def test_bad_input_is_a_type_or_value_error_naming_the_values(lock_path, call, kind, words):
    # An index or count out of bounds is an InvalidRangeError: a LocksFileError and a ValueError.
    lf = LocksFile(lock_path)
    with pytest.raises(kind, match=words):
        call(lf)
    assert lf.held() == []


def test_range_errors_from_the_core_are_value_errors_too():
    assert issubclass(InvalidRangeError, ValueError)
    with pytest.raises(TypeError, match="path must be"):
        LocksFile(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode must be"):
        LocksFile("/tmp/x.lock", mode=0o10000)
