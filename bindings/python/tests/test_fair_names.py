"""Fair handles and locks by name, observed from other processes (issue 13)."""

from __future__ import annotations

import pickle

import pytest

from conftest import waiting_requests, wait_until
from pylocksfile import InvalidRangeError, LocksFile, Mode, index_of

GATES = 2**62


def test_a_name_is_its_lock_in_every_call(lock_path, workers):
    other = workers()
    same, different = index_of("dataset-42"), index_of("dataset-43")
    assert same == 2370090560691594753  # pinned in the core: the same in every language
    lf = LocksFile(lock_path)
    lf.acquire("dataset-42", write=True)
    assert lf.mode_of(same) is Mode.WRITE and lf.held()[0].start == same
    assert not other.can_take("read", str(same))
    assert other.can_take("write", str(different))
    lf.release("dataset-42")
    assert other.can_take("write", str(same))
    assert other.ask(f"acquire read {same} block") == "ok"
    assert not lf.try_acquire("dataset-42", write=True)
    assert lf.acquire("dataset-42", timeout=1.0)
    assert [h.pid for h in lf.holders("dataset-42")] == [other.pid]
    with lf.write("dataset-43"):
        assert not other.can_take("read", str(different))
    assert other.can_take("write", str(different))
    with pytest.raises(TypeError, match="a name is one lock"):
        lf.acquire("dataset-42", 2)
    with pytest.raises(TypeError):
        index_of(42)  # type: ignore[arg-type]


def test_a_waiting_fair_writer_holds_back_fair_readers_not_plain_ones(lock_path, workers):
    inside = workers()
    late_fair = workers("open-file+fair")
    late_plain = workers()
    assert inside.ask("acquire read 0 block") == "ok"
    writer = LocksFile(lock_path, fair=True)
    assert writer.fair and "fair=True" in repr(writer)
    fair_writer = workers("open-file+fair")
    fair_writer.send("acquire write 0 block")
    wait_until("the fair writer waits", lambda: waiting_requests(lock_path) == 1)
    assert late_fair.ask("acquire read 0 try") == "busy"
    assert late_plain.can_take("read", "0")
    assert inside.ask("release 0") == "ok"
    assert fair_writer.reply() == "ok"
    assert not writer.try_acquire(0)
    assert fair_writer.ask("release 0") == "ok"
    assert writer.try_acquire(0)


def test_a_fair_handle_keeps_below_the_gates_and_pickles_fair(lock_path):
    lf = LocksFile(lock_path, fair=True)
    with pytest.raises(InvalidRangeError, match="2\\^62"):
        lf.acquire(GATES)
    lf.acquire(5, None, write=True)
    assert lf.held()[0].count == GATES - 5
    assert pickle.loads(pickle.dumps(lf)).fair
    with pytest.raises(TypeError):
        LocksFile(lock_path, fair=1)  # type: ignore[arg-type]
