"""Inside one process: close() during another thread's wait, Ctrl-C while parked behind another
thread's request, timeouts of any size. Observed from other processes; waits are for states
(a request queued in /proc/locks, a thread parked in a futex), never for the clock."""

from __future__ import annotations

import asyncio
import math
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import in_futex_wait, wait_until, waiting_requests

from pylocksfile import ClosedError, LocksFile, Scope

#: The requirement is 50 ms; this bound (a shared machine) only catches waits that close did not end.
PROMPT = 2.0


@pytest.mark.parametrize("scope", [Scope.OPEN_FILE, Scope.PROCESS])
@pytest.mark.parametrize("how", ["blocking", "timeout", "guard", "async"])
def test_close_ends_another_threads_wait_with_closed_holding_nothing(lock_path, workers, scope, how):
    holder = workers()
    assert holder.ask("acquire write 5 block") == "ok"
    lf = LocksFile(lock_path, scope=scope)
    calls = {
        "blocking": lambda: lf.acquire(5, write=True),
        "timeout": lambda: lf.acquire(5, write=True, timeout=60),
        "guard": lambda: lf.write(5).__enter__(),
        "async": lambda: asyncio.run(lf.acquire_async(5, write=True)),
    }
    outcome: list = []

    def wait() -> None:
        try:
            outcome.append(calls[how]())
        except BaseException as error:  # noqa: BLE001 - the outcome is what is tested
            outcome.append(error)
        outcome.append(time.monotonic())

    waiter = threading.Thread(target=wait)
    waiter.start()
    wait_until("the waiter is queued in the kernel", lambda: waiting_requests(lock_path) == 1)
    closed = time.monotonic()
    lf.close()
    waiter.join(REPLY := 20)
    assert not waiter.is_alive(), f"the wait went on {REPLY} s after close"
    result, ended = outcome
    assert isinstance(result, ClosedError), result
    print(f"{scope} {how}: the wait ended {(ended - closed) * 1000:.1f} ms after close began")
    assert ended - closed < PROMPT
    assert waiting_requests(lock_path) == 0, "a request of the closed handle is still queued"
    with pytest.raises(ClosedError):
        lf.held()
    assert holder.ask("release 5") == "ok"
    assert holder.can_take("write", "5"), "the closed handle took the lock after all"


PARKED_CHILD = """
import os, sys, threading, time
from pylocksfile import LocksFile
lf = LocksFile(sys.argv[1])
inode = f":{os.stat(sys.argv[1]).st_ino} "
threading.Thread(target=lambda: lf.acquire(2, write=True), daemon=True).start()
# The thread's request first (else this thread's may queue first and the thread park behind it).
while not any("->" in line and inode in line for line in open("/proc/locks")):
    time.sleep(0.001)
print("started", flush=True)
try:
    lf.acquire(2, 2)  # overlaps the other thread's request: waits for it in-process
    print("returned", flush=True)
except KeyboardInterrupt:
    print(f"interrupted held={len(lf.held())}", flush=True)
"""


def test_ctrl_c_ends_a_wait_behind_another_threads_request(lock_path, workers):
    holder = workers()
    assert holder.ask("acquire write 2 block") == "ok"
    child = subprocess.Popen([sys.executable, "-c", PARKED_CHILD, str(lock_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "started"
        wait_until("the thread's request is queued", lambda: waiting_requests(lock_path) == 1)
        wait_until("the main thread is parked behind it", lambda: in_futex_wait(child.pid, child.pid))
        child.send_signal(signal.SIGINT)
        assert child.stdout.readline().split() == ["interrupted", "held=0"]
        assert waiting_requests(lock_path) == 1, "the other thread still waits"
    finally:
        child.kill()
        child.wait()


def test_timeouts_of_any_size_wait_and_take_a_freed_lock(lock_path, workers):
    holder = workers()
    lf = LocksFile(lock_path)
    for timeout in (math.inf, 1e30, 10**400, 2**64):
        assert holder.ask("acquire write 3 block") == "ok"
        taken: list = []
        waiter = threading.Thread(target=lambda: taken.append(lf.acquire(3, write=True, timeout=timeout)))
        waiter.start()
        wait_until("the waiter is queued", lambda: waiting_requests(lock_path) == 1)
        assert holder.ask("release 3") == "ok"
        waiter.join(20)
        assert taken == [True], timeout
        lf.release(3)
    with lf.write(3, timeout=math.inf):
        assert not holder.can_take("read", "3")
