"""Hand-off latency between two processes: a holder releases lock 0, a waiter blocked in the kernel
returns. Measured in µs from just before the holder's unlock to the waiter's return from its call
(CLOCK_MONOTONIC is one clock for every process). The floor is a waiter blocked in
``fcntl.lockf(fd, LOCK_EX)``; the others are pylocksfile's waits. Each round waits until the waiter
is queued in the kernel (its ``->`` line in /proc/locks) before releasing, so a round never measures
a waiter that had not started waiting yet; rounds of the waiters take turns, so drift on the machine
affects all alike; the holder runs on one CPU and the waiters on another (see ``WAITER_CPUS``).

The waiter is this file run as ``handoff.py waiter VARIANT PATH``: on each ``go`` line it says
``ready``, waits for lock 0 of PATH, notes the time, releases, and prints the time.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from typing import Dict, List, Tuple

ROUNDS = 200

# The holder on one CPU, every waiter on another: each hand-off then wakes a waiter on the other CPU.
# Left to the scheduler, one waiter process may settle on the holder's CPU and another not, and
# the two cases differ by tens of µs on this machine, far more than the waiters do.
_CPUS = sorted(os.sched_getaffinity(0))
HOLDER_CPUS = {_CPUS[0]}
WAITER_CPUS = {_CPUS[-1]}
QUEUE_TIMEOUT = 10.0  # seconds a waiter may take to queue in the kernel before the bench fails

# (variant, label, kind): the floor first.
WAITERS: List[Tuple[str, str, str]] = [
    ("raw", "fcntl.lockf(LOCK_EX) (blocking)", "floor"),
    ("blocking", "LocksFile.acquire (blocking)", "api"),
    ("timed", "LocksFile.acquire(timeout=30) (kernel wait)", "api"),
    ("async", "await LocksFile.acquire_async (worker thread)", "api"),
]


def waiter(variant: str, path: str) -> None:
    """The waiting process."""
    import asyncio

    from pylocksfile import LocksFile

    lf = LocksFile(path)
    raw = os.open(path, os.O_RDWR)
    loop = asyncio.new_event_loop()

    async def wait_async() -> int:
        assert await lf.acquire_async(0, write=True)
        return time.monotonic_ns()

    for line in sys.stdin:
        if line.strip() != "go":
            break
        print("ready", flush=True)
        if variant == "raw":
            fcntl.lockf(raw, fcntl.LOCK_EX, 1, 0)
            got = time.monotonic_ns()
            fcntl.lockf(raw, fcntl.LOCK_UN, 1, 0)
        else:
            if variant == "blocking":
                lf.acquire(0, write=True)
                got = time.monotonic_ns()
            elif variant == "timed":
                assert lf.acquire(0, write=True, timeout=30)
                got = time.monotonic_ns()
            elif variant == "async":
                got = loop.run_until_complete(wait_async())
            else:
                raise SystemExit(f"unknown variant {variant}")
            lf.release(0)
        print(got, flush=True)


class Waiter:
    """A waiter process and the holder's side of its lock file."""

    def __init__(self, variant: str, label: str, kind: str, path: str) -> None:
        self.label, self.kind = label, kind
        self.holder = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.inode = os.fstat(self.holder).st_ino
        fcntl.lockf(self.holder, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0)
        self.process = subprocess.Popen([sys.executable, __file__, "waiter", variant, path],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                                        preexec_fn=lambda: os.sched_setaffinity(0, WAITER_CPUS))
        self.latencies: List[float] = []

    def line(self) -> str:
        assert self.process.stdout is not None
        text = self.process.stdout.readline()
        if not text:
            raise RuntimeError(f"{self.label}: the waiter ended (exit status {self.process.wait()})")
        return text.strip()

    def queued(self) -> bool:
        """Whether a request waits in the kernel's queue for this file (/proc/locks: ``->``)."""
        with open("/proc/locks") as table:
            for line in table:
                words = line.split()
                if len(words) > 6 and words[1] == "->" and words[6].rpartition(":")[2] == str(self.inode):
                    return True
        return False

    def round(self) -> None:
        """One hand-off: the waiter queues, the holder releases, the waiter returns; the holder
        takes the lock back once the waiter has let go of it."""
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        if self.line() != "ready":
            raise RuntimeError(f"{self.label}: the waiter did not say ready")
        deadline = time.monotonic() + QUEUE_TIMEOUT
        while not self.queued():  # A state, not a time: polled, with a pause to leave the CPU to it.
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.label}: the waiter never queued in the kernel")
            time.sleep(0.0002)
        released = time.monotonic_ns()
        fcntl.lockf(self.holder, fcntl.LOCK_UN, 1, 0)
        got = int(self.line())
        self.latencies.append((got - released) / 1000)
        fcntl.lockf(self.holder, fcntl.LOCK_EX, 1, 0)  # The waiter has released: no wait here.

    def finish(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)
        os.close(self.holder)


def measure(directory: str, rounds: int = ROUNDS) -> Dict[str, object]:
    """Every waiter's latencies, printed, and as the JSON's ``handoff`` section."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, HOLDER_CPUS)
    try:
        return measured(directory, rounds)
    finally:
        os.sched_setaffinity(0, before)


def measured(directory: str, rounds: int) -> Dict[str, object]:
    print(f"hand-off latency between two processes ({rounds} rounds each, interleaved; "
          "µs from the holder's release to the waiter's return)")
    print(f"{'waiter':46} {'median':>9} {'p90':>9} {'vs lockf':>9}")
    waiters = [Waiter(variant, label, kind, os.path.join(directory, f"handoff-{variant}.lock"))
               for variant, label, kind in WAITERS]
    try:
        for number in range(rounds):
            for turn in range(len(waiters)):
                waiters[(number + turn) % len(waiters)].round()
    finally:
        for each in waiters:
            each.finish()
    entries = []
    floor = None
    for each in waiters:
        ordered = sorted(each.latencies)
        median, p90 = ordered[len(ordered) // 2], ordered[len(ordered) * 9 // 10]
        floor = floor or median
        print(f"{each.label:46} {median:9.1f} {p90:9.1f} {median / floor:8.2f}x")
        entries.append({"name": each.label, "kind": each.kind, "median_us": median, "samples_us": each.latencies})
    return {"what": "from the holder's release to the waiter's return, two processes", "rounds": rounds,
            "floor": waiters[0].label, "entries": entries}


if __name__ == "__main__":
    if sys.argv[1:2] == ["waiter"] and len(sys.argv) == 4:
        waiter(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit("usage: handoff.py waiter VARIANT PATH (bench_pylocksfile.py runs the holder)")
