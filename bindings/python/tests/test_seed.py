"""The original pylocksfile API: the seed README's example step by step, observed from another
process; its hand-over-hand race; nested blocks; deadlocks; logging; bad input."""

from __future__ import annotations

import logging
import multiprocessing
import os
from pathlib import Path

import pytest

from pylocksfile import IllegalArgumentError, pylocksfile


def test_the_seed_example_runs_as_written_and_each_step_is_seen_from_outside(lock_path, workers):
    outside = workers()
    path = str(lock_path)

    def example():
        # The seed README's example, with the outside process checking each step.
        locksfile = pylocksfile(locksfile_path=path, verbose=False, l_id="process_1")

        locksfile.acquire(writeLock=False, lock_n=0, blocking=True)
        assert outside.can_take("read", "0") and not outside.can_take("write", "0")

        locksfile.acquire(writeLock=True, lock_n=(1, 3), blocking=True)
        assert not any(outside.can_take("read", str(i)) for i in (1, 2, 3))

        with locksfile(writeLock=False, lock_n=(2, 1)):
            assert outside.can_take("read", "2") and not outside.can_take("write", "2")
            assert not outside.can_take("read", "1") and not outside.can_take("read", "3")

        assert outside.can_take("write", "2"), "the with block released lock 2"
        assert not outside.can_take("read", "1") and not outside.can_take("read", "3")
        assert not outside.can_take("write", "0")

        locksfile.release(lock_n=(0, 1))
        assert outside.can_take("write", "0")

        locksfile.release(lock_n=(3, 997))
        assert outside.can_take("write", "3") and not outside.can_take("read", "1")

        locksfile.release()
        assert outside.can_take("write", "0..1000")
        return

    example()


def test_nested_with_blocks_release_exactly_what_they_entered(lock_path, workers):
    outside = workers()
    locks = pylocksfile(str(lock_path))
    with locks(writeLock=True, lock_n=(0, 2)):
        with locks(writeLock=False, lock_n=5):
            with locks(writeLock=True, lock_n=[7, 2]):
                assert not outside.can_take("read", "8")
            assert outside.can_take("write", "7..9")
            assert not outside.can_take("write", "5") and not outside.can_take("read", "1")
        assert outside.can_take("write", "5")
        assert not outside.can_take("read", "0"), "the outer block still holds its locks"
    assert outside.can_take("write", "0..10")


def test_opening_never_truncates_and_a_missing_path_makes_a_temp_file(tmp_path):
    path = tmp_path / "data.lock"
    path.write_bytes(b"keep me")
    pylocksfile(str(path)).acquire(True, (0, 4))
    assert path.read_bytes() == b"keep me"

    temp = pylocksfile()
    assert os.path.exists(temp.locksfile_path)
    assert temp.acquire(True, 3)
    os.unlink(temp.locksfile_path)


def test_verbose_logs_each_operation_with_the_l_id(lock_path, caplog):
    caplog.set_level(logging.INFO, logger="pylocksfile")
    quiet = pylocksfile(str(lock_path), verbose=False, l_id="silent")
    quiet.acquire(False, 1)
    loud = pylocksfile(str(lock_path), verbose=True, l_id="worker-7")
    loud.acquire(True, (2, 3))
    loud.release(2)
    loud.release()
    messages = [record.getMessage() for record in caplog.records]
    assert messages and all(m.startswith("[worker-7] ") for m in messages), messages
    assert any("write lock on 2..5 acquired" in m for m in messages), messages
    assert pylocksfile(str(lock_path)).l_id == str(os.getpid())


def test_non_blocking_acquire_answers_false_on_conflict(lock_path, workers):
    holder = workers()
    assert holder.ask("acquire write 4 block") == "ok"
    locks = pylocksfile(str(lock_path))
    assert locks.acquire(writeLock=False, lock_n=4, blocking=False) is False
    assert locks.acquire(writeLock=True, lock_n=5, blocking=False) is True


def test_a_deadlock_makes_acquire_return_false(lock_path, workers):
    other = workers("process")
    locks = pylocksfile(str(lock_path))
    assert locks.acquire(True, 1)
    assert other.ask("acquire write 2 block") == "ok"
    other.send("acquire write 1 block")
    other.assert_blocked()
    assert locks.acquire(True, 2) is False, "the kernel reports the cycle to this process"
    locks.release(1)
    assert other.reply() == "ok"


@pytest.mark.parametrize(
    "lock_n, kind, words",
    [
        ("1", TypeError, "lock_n"),
        (1.5, TypeError, "lock_n"),
        (True, TypeError, "lock_n"),
        ((1, 2, 3), ValueError, "lock_n"),
        (-1, ValueError, "lock_n -1: .*start must not be negative"),
        ((1, 0), ValueError, r"lock_n \(1, 0\): .*count must be at least 1"),
        ((1, -2), ValueError, r"lock_n \(1, -2\): .*count must be at least 1"),
        (2**63, ValueError, "lock_n 9223372036854775808: .*start must not exceed"),
        ((2**63 - 1, 2), ValueError, "lock_n .*the last index must not exceed"),
        ((None, 1), TypeError, "lock_n"),
    ],
)
def test_bad_lock_n_is_a_clear_error(lock_path, lock_n, kind, words):
    locks = pylocksfile(str(lock_path))
    for call in (lambda: locks.acquire(False, lock_n), lambda: locks.release(lock_n), lambda: locks(True, lock_n)):
        with pytest.raises(kind, match=words) as raised:
            call()
        assert isinstance(raised.value, IllegalArgumentError)
    assert locks.file.held() == []


def test_bad_flags_are_type_errors_naming_the_argument(lock_path):
    locks = pylocksfile(str(lock_path))
    with pytest.raises(TypeError, match="writeLock"):
        locks.acquire(writeLock=1, lock_n=0)
    with pytest.raises(TypeError, match="blocking"):
        locks.acquire(lock_n=0, blocking="yes")
    with pytest.raises(TypeError, match="verbose"):
        pylocksfile(str(lock_path), verbose=1)


# ----- the seed's hand-over-hand race (its testRace, with its order check) -----------------------




def _order_holds(records, processes: int) -> bool:
    """0.0.6's testCorrectness: nobody is both ahead of and behind a racer."""
    for me in range(processes):
        ahead, behind, position = set(), set(), -1
        for index, _track, step in records:
            if index == me:
                position += 1
                if step != position:
                    return False
                continue
            (behind if step <= position else ahead).add(index)
        if ahead & behind:
            return False
    return True


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_the_seed_race_keeps_its_order(tmp_path: Path, method: str):
    processes, tracks, laps = 4, 12, 25
    context = multiprocessing.get_context(method)
    with context.Manager() as manager:
        # One shared list, appended to under each racer's track lock: it records the global order.
        records = manager.list()
        path = str(tmp_path / "race.lock")
        racers = [context.Process(target=_racer_recording, args=(path, i, tracks, laps, records)) for i in range(processes)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(60)
            assert racer.exitcode == 0
        records = list(records)
    assert len(records) == processes * tracks * laps
    assert _order_holds(records, processes)


def _racer_recording(path: str, index: int, tracks: int, laps: int, records) -> None:
    locks = pylocksfile(path, l_id=f"racer-{index}")
    total = tracks * laps
    locks.acquire(writeLock=True, lock_n=0)
    records.append((index, 0, 0))  # recorded while holding the track's lock
    for step in range(1, total):
        locks.acquire(writeLock=True, lock_n=step % tracks)
        records.append((index, step % tracks, step))
        locks.release(lock_n=(step - 1) % tracks)
    locks.release(lock_n=(total - 1) % tracks)
