"""Driving worker processes of any language over the line protocol of tests/README.md.

Used by the cross-language tests and by the demo; standard library only.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "tests" / "cross" / "launch"
#: Every place a lock or data file goes: under the project, which the Swift root sees at the same path.
RUN_DIR = ROOT / "target" / "cross" / "run"

LANGUAGES = ("rust", "python", "kotlin", "swift")
PEERS = ("lockf", "channel")
#: Every ordered pair of this project's workers (16), then each peer with each of them, both ways.
PAIRS = (
    [(a, b) for a in LANGUAGES for b in LANGUAGES]
    + [(p, l) for p in PEERS for l in LANGUAGES]
    + [(l, p) for p in PEERS for l in LANGUAGES]
)

#: How long a reply may take before the test fails: a hang guard, not a timing assertion.
REPLY_TIMEOUT = 20.0
#: A cold JVM on a loaded machine is slow to answer its first command.
START_TIMEOUT = 60.0
#: How long a worker is watched to be satisfied that its last command is blocked.
STILL_BLOCKED = 0.3


class WorkerGone(AssertionError):
    pass


class Worker:
    """One worker process; its replies are read by a thread into a queue, taken by one reader."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.process = subprocess.Popen(
            [str(LAUNCH), kind], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self._replies: "queue.Queue[Optional[str]]" = queue.Queue()
        self.pending = 0
        threading.Thread(target=self._read, daemon=True).start()
        self.send("pid")
        reply = self.reply(START_TIMEOUT)
        if reply != str(self.process.pid):
            raise WorkerGone(f"{kind} worker answered pid with {reply!r}, expected {self.process.pid}")
        self.pid = self.process.pid

    def __repr__(self) -> str:
        return f"{self.kind}[{self.process.pid}]"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._replies.put(line.rstrip("\n"))
        self._replies.put(None)

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            raise WorkerGone(f"{self} has exited (status {self.process.poll()})") from None
        self.pending += 1

    def poll(self, timeout: float) -> Optional[str]:
        """The next reply, or None if none came within ``timeout``."""
        try:
            reply = self._replies.get(timeout=timeout)
        except queue.Empty:
            return None
        if reply is None:
            self._replies.put(None)
            raise WorkerGone(f"{self} has exited (status {self.process.wait()})")
        self.pending -= 1
        return reply

    def reply(self, timeout: float = REPLY_TIMEOUT) -> str:
        reply = self.poll(timeout)
        if reply is None:
            raise AssertionError(f"{self} gave no reply within {timeout} s")
        return reply

    def ask(self, command: str, timeout: float = REPLY_TIMEOUT) -> str:
        self.send(command)
        return self.reply(timeout)

    def assert_blocked(self) -> None:
        reply = self.poll(STILL_BLOCKED)
        if reply is not None:
            raise AssertionError(f"expected {self} to be blocked, it replied {reply!r}")

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """Asks the worker to quit; kills it if it does not."""
        try:
            self.send("quit")
            self.process.wait(timeout=5)
        except (WorkerGone, subprocess.TimeoutExpired):
            self.kill()


def start_all(kinds) -> list:
    """Workers of the given kinds, started together (a JVM takes a second; no need to wait in turn)."""
    results: list = [None] * len(kinds)

    def start(index: int, kind: str) -> None:
        try:
            results[index] = Worker(kind)
        except BaseException as error:  # reported below, in this thread
            results[index] = error

    threads = [threading.Thread(target=start, args=(i, k)) for i, k in enumerate(kinds)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        for worker in results:
            if isinstance(worker, Worker):
                worker.kill()
        raise failures[0]
    return results


def wait_all(workers, timeout: float) -> list:
    """One reply from each worker (all were sent a command), waiting at most ``timeout`` overall."""
    deadline = time.monotonic() + timeout
    return [w.reply(max(0.1, deadline - time.monotonic())) for w in workers]


class KernelWaits:
    """Watches ``/proc/locks`` in the background (a context manager) and counts the moments a
    request was seen waiting for a lock on the file at ``path``: the evidence that processes really
    contended, which a test of exclusion needs (run one after another, they would pass trivially)."""

    def __init__(self, path) -> None:
        self.path = path
        self.seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        inode = f":{os.stat(self.path).st_ino} "
        while not self._stop.is_set():
            with open("/proc/locks") as locks:
                if any("->" in line and inode in line for line in locks):
                    self.seen += 1
            time.sleep(0.0005)

    def __enter__(self) -> "KernelWaits":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
