"""fork and spawn (multiprocessing), threads."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from pylocksfile import LocksFile, Mode, Scope


def _child_view(lf: LocksFile, results) -> None:
    results.put((lf.held(), lf.try_acquire(1), lf.try_acquire(2, write=True)))
    lf.release_all()


@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize("scope", [Scope.OPEN_FILE, Scope.PROCESS])
def test_a_child_process_gets_a_handle_that_holds_nothing(lock_path, workers, method, scope):
    outside = workers()
    lf = LocksFile(lock_path, scope=scope)
    lf.acquire(1, write=True)
    context = multiprocessing.get_context(method)
    results = context.Queue()
    child = context.Process(target=_child_view, args=(lf, results))
    child.start()
    held, took_parents_lock, took_free_lock = results.get(timeout=30)
    child.join(30)
    assert child.exitcode == 0
    assert held == [] and took_parents_lock is False and took_free_lock is True
    assert not outside.can_take("read", "1"), "the child's release_all left the parent's lock alone"
    assert lf.mode_of(1) is Mode.WRITE


def test_threads_with_their_own_handles_exclude_each_other(lock_path):
    counter = {"value": 0, "inside": 0, "overlaps": 0}

    def work() -> None:
        lf = LocksFile(lock_path)
        for _ in range(300):
            with lf.write(0):
                counter["inside"] += 1
                if counter["inside"] != 1:
                    counter["overlaps"] += 1
                counter["value"] += 1
                counter["inside"] -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter["value"] == 1200 and counter["overlaps"] == 0


def test_threads_may_share_a_handle(lock_path, workers):
    lf = LocksFile(lock_path)
    errors = []

    def work(offset: int) -> None:
        try:
            for i in range(200):
                lf.acquire(offset * 1000 + i, write=True)
                lf.release(offset * 1000 + i)
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and lf.held() == []
    assert workers().can_take("write", "0..")
