"""Test support: worker processes (``worker.py``) that hold locks, so that every assertion about
exclusion is made from another process."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator, List

import pytest

HERE = Path(__file__).parent
REPLY_TIMEOUT = 20.0  # a hang guard, not a timing assertion
STILL_BLOCKED = 0.3


def waiting_requests(path: Path) -> int:
    """How many requests wait in the kernel for a lock on the file at ``path`` (``/proc/locks``)."""
    inode = f":{os.stat(path).st_ino} "
    with open("/proc/locks") as locks:
        return sum(1 for line in locks if "->" in line and inode in line)


def in_futex_wait(pid: int, tid: int) -> bool:
    """Whether thread ``tid`` of process ``pid`` sleeps in a futex wait (parked in-process)."""
    try:
        with open(f"/proc/{pid}/task/{tid}/syscall") as call:
            return call.read().split()[0] == "202"  # SYS_futex on x86_64
    except (OSError, IndexError):
        return False


def wait_until(what: str, condition) -> None:  # type: ignore[no-untyped-def]
    """Polls ``condition`` until it holds; fails naming ``what`` after REPLY_TIMEOUT (a hang guard)."""
    import time

    deadline = time.monotonic() + REPLY_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.001)


class Worker:
    def __init__(self, path: Path, scope: str = "open-file") -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.replies: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.ask(f"open {path} {scope}") == "ok"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.replies.put(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def reply(self) -> str:
        try:
            return self.replies.get(timeout=REPLY_TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"worker {self.pid} gave no reply") from None

    def ask(self, command: str) -> str:
        self.send(command)
        return self.reply()

    def assert_blocked(self) -> None:
        try:
            reply = self.replies.get(timeout=STILL_BLOCKED)
        except queue.Empty:
            return
        raise AssertionError(f"expected the worker to be blocked, got {reply!r}")

    def can_take(self, mode: str, lock_range: str) -> bool:
        reply = self.ask(f"acquire {mode} {lock_range} try")
        if reply == "ok":
            assert self.ask(f"release {lock_range}") == "ok"
            return True
        assert reply == "busy", reply
        return False

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send("quit")
            except (BrokenPipeError, OSError):
                pass
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def lock_path(tmp_path: Path) -> Path:
    return tmp_path / "test.lock"


@pytest.fixture
def workers(lock_path: Path) -> Iterator["WorkerFactory"]:
    started: List[Worker] = []

    def start(scope: str = "open-file", path: Path = lock_path) -> Worker:
        worker = Worker(path, scope)
        started.append(worker)
        return worker

    yield start  # type: ignore[misc]
    for worker in started:
        worker.close()


WorkerFactory = object
