"""Ctrl-C while blocked in any acquire raises KeyboardInterrupt promptly, holding nothing new; other
signals whose handlers return are retried (PEP 475)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from conftest import wait_until, waiting_requests

BLOCKED_CHILD = """
import signal, sys, time
from pylocksfile import LocksFile, pylocksfile, Scope
path, how = sys.argv[1], sys.argv[2]
handled = []
def on_usr1(*_):
    handled.append(1)
    print("handled", flush=True)
signal.signal(signal.SIGUSR1, on_usr1)
lf = LocksFile(path)
seed = pylocksfile(path)
calls = {
    "blocking": lambda: lf.acquire(0, 5, write=True),
    "timeout": lambda: lf.acquire(0, 5, write=True, timeout=60),
    "guard": lambda: lf.write(0, 5).__enter__(),
    "seed": lambda: seed.acquire(writeLock=True, lock_n=(0, 5)),
}
print("waiting", flush=True)
try:
    result = calls[how]()
    print(f"returned {result} handled={len(handled)} held={len(lf.held()) + len(seed.file.held())}", flush=True)
except KeyboardInterrupt:
    print(f"interrupted at {time.monotonic()} held={len(lf.held()) + len(seed.file.held())}", flush=True)
"""


def start_blocked(lock_path, how):
    child = subprocess.Popen([sys.executable, "-c", BLOCKED_CHILD, str(lock_path), how], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "waiting"
    wait_until("the child waits in the kernel", lambda: waiting_requests(lock_path) == 1)
    return child


@pytest.mark.parametrize("how", ["blocking", "timeout", "guard", "seed"])
def test_ctrl_c_interrupts_a_blocked_acquire(lock_path, workers, how):
    holder = workers()
    assert holder.ask("acquire write 2 block") == "ok"
    child = start_blocked(lock_path, how)
    sent = time.monotonic()
    child.send_signal(signal.SIGINT)
    line = child.stdout.readline().split()
    child.wait(10)
    assert line[0] == "interrupted", line
    latency = float(line[2]) - sent
    print(f"{how}: KeyboardInterrupt {latency * 1000:.1f} ms after SIGINT")
    assert latency < 1.0  # the requirement is ~100 ms; this bound only guards against polling-sized waits
    assert line[3] == "held=0"
    assert holder.can_take("write", "0"), "nothing half-held"


@pytest.mark.parametrize("how", ["blocking", "timeout"])
def test_a_handler_that_returns_lets_the_wait_continue(lock_path, workers, how):
    holder = workers()
    assert holder.ask("acquire write 2 block") == "ok"
    child = start_blocked(lock_path, how)
    child.send_signal(signal.SIGUSR1)
    assert child.stdout.readline().strip() == "handled"
    wait_until("the child waits again after its handler ran", lambda: waiting_requests(lock_path) == 1)
    assert child.poll() is None
    assert holder.ask("release 2") == "ok"
    line = child.stdout.readline().split()
    child.wait(10)
    assert line == ["returned", "True", "handled=1", "held=1"], line
