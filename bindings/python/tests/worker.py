"""The Python worker of the project's tests: holds locks through pylocksfile as commanded on stdin,
one reply line per command on stdout. The protocol is in tests/README.md (the Rust, Kotlin and Swift
workers speak it too); ``lockf-hold RANGE`` is this worker's own extra: an exclusive stdlib
``fcntl.lockf`` lock on a separate descriptor.
"""

from __future__ import annotations

import fcntl
import os
import struct
import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator, List, Optional, Tuple, Union

import pylocksfile
from pylocksfile import LocksFile, LocksFileError, Scope

# Python's exception names are idiomatic (LockFileNotFoundError...); replies carry the kind every
# worker uses, which is the name of the UDL's error variant.
KINDS = {
    pylocksfile.InvalidRangeError: "InvalidRange",
    pylocksfile.InvalidTimeoutError: "InvalidTimeout",
    pylocksfile.NotWritableError: "NotWritable",
    pylocksfile.DeadlockError: "Deadlock",
    pylocksfile.LockInterruptedError: "Interrupted",
    pylocksfile.NoLocksAvailableError: "NoLocksAvailable",
    pylocksfile.LockFileNotFoundError: "NotFound",
    pylocksfile.MissingDirectoryError: "MissingDirectory",
    pylocksfile.LockFileIsDirectoryError: "IsDirectory",
    pylocksfile.LocksFileOSError: "Io",
    pylocksfile.ClosedError: "Closed",
}
U64 = struct.Struct("<Q")


class ProtocolError(Exception):
    pass


def parse_range(text: str) -> Tuple[Union[int, str], Optional[int]]:
    """``3``, ``1..4`` (1, 2, 3), ``5..`` (from 5 on) or ``name:NAME`` (the name itself, which the
    API takes in place of an index), as (start, count)."""
    if text.startswith("name:"):
        return text[len("name:"):], 1
    if ".." not in text:
        return int(text), 1
    start, end = text.split("..")
    return int(start), (int(end) - int(start) if end else None)


def describe(start: int, count: Optional[int]) -> str:
    if count is None:
        return f"{start}.."
    return str(start) if count == 1 else f"{start}..{start + count}"


def main() -> None:
    worker = Worker()
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        try:
            reply = worker.handle(words)
        except LocksFileError as error:
            reply = f"err {KINDS.get(type(error), type(error).__name__)}: {error}"
        except (ProtocolError, ValueError, IndexError, OSError) as error:
            reply = f"err Protocol: {error}"
        print(reply, flush=True)


class Worker:
    def __init__(self) -> None:
        self.file: Optional[LocksFile] = None
        self.lockf_fds: List[int] = []
        self.reading: Optional[KeepReading] = None

    def handle(self, words: List[str]) -> str:
        command = words[0]
        if command == "pid":
            return str(os.getpid())
        if command == "index-of":
            return str(pylocksfile.index_of(words[1]))
        if command == "open":
            scope, _, fair = words[2].partition("+")
            self.file = LocksFile(words[1], scope=Scope.PROCESS if scope == "process" else Scope.OPEN_FILE, fair=fair == "fair")
            return "ok"
        if command == "stop-reading":
            if self.reading is not None:
                self.reading.stop()
            self.reading = None
            return "ok"
        if command == "close":
            if self.file is not None:
                self.file.close()
            self.file = None
            return "ok"
        file = self.file
        if file is None:
            raise ProtocolError("no file is open")
        if command == "lockf-hold":
            start, count = parse_range(words[1])
            fd = os.open(file.path, os.O_RDWR)
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, count or 0, start)
            self.lockf_fds.append(fd)
            return "ok"
        if command == "keep-reading":
            self.reading = KeepReading(file.path, *map(int, words[1:5]))
            return "ok"
        if command == "acquire":
            return acquire(file, words[1] == "write", *parse_range(words[2]), words[3])
        if command == "release":
            file.release(*parse_range(words[1]))
            return "ok"
        if command == "release-all":
            file.release_all()
            return "ok"
        if command == "held":
            return " ".join(["held"] + [f"{describe(h.start, h.count)}:{h.mode.value}" for h in file.held()])
        if command == "count":
            return increment_counters(file, words[1], *parse_range(words[2]), int(words[3]))
        if command == "audit":
            return audit_counters(file, words[1], *parse_range(words[2]), int(words[3]))
        if command == "race":
            return race(file, words[1], *map(int, words[2:5]), words[5])
        raise ProtocolError(f"unknown command {' '.join(words)!r}")


class KeepReading:
    """A thread that, through a fair handle of its own, keeps ``index`` read-held: it takes it, holds
    it a seeded while, lets go and takes it again at once (the formula is in tests/README.md)."""

    def __init__(self, path: str, index: int, seed: int, low: int, high: int) -> None:
        self.handle = LocksFile(path, fair=True)
        self.handle.acquire(index)
        self.stopping = threading.Event()
        self.failure: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, args=(index, seed, low, high), daemon=True)
        self.thread.start()

    def _run(self, index: int, state: int, low: int, high: int) -> None:
        try:
            while True:
                state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
                time.sleep((low + (state >> 33) % (high - low + 1)) / 1000)
                self.handle.release(index)
                if self.stopping.is_set():
                    return
                self.handle.acquire(index)
        except BaseException as error:  # reported by stop()
            self.failure = error

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.handle.close()
        if self.failure is not None:
            raise ProtocolError(f"the reading thread failed: {self.failure!r}")


def acquire(file: LocksFile, write: bool, start: Union[int, str], count: Optional[int], wait: str) -> str:
    began = time.monotonic()
    if wait == "block":
        file.acquire(start, count, write=write)
        return "ok"
    if wait == "try":
        return "ok" if file.try_acquire(start, count, write=write) else "busy"
    if not wait.startswith("timeout="):
        raise ProtocolError(f"bad wait {wait!r}")
    if file.acquire(start, count, write=write, timeout=int(wait[len("timeout="):]) / 1000):
        return "ok"
    return f"timeout {int((time.monotonic() - began) * 1000)}"


# The data files (layout in tests/README.md): little-endian u64 slots read and written in place.
def read_u64(fd: int, offset: int) -> int:
    data = os.pread(fd, 8, offset)
    return U64.unpack(data)[0] if len(data) == 8 else 0


def write_u64(fd: int, offset: int, value: int) -> None:
    os.pwrite(fd, U64.pack(value), offset)


@contextmanager
def data_file(path: str, flags: int) -> Iterator[int]:
    """The data file's descriptor, closed however the command ends."""
    fd = os.open(path, flags)
    try:
        yield fd
    finally:
        os.close(fd)


def increment_counters(file: LocksFile, data: str, first: int, counters: Optional[int], times: int) -> str:
    """``times`` increments, round-robin over the counters, each under its index's write lock."""
    if counters is None:
        raise ProtocolError("count needs a bounded range")
    with data_file(data, os.O_RDWR) as fd:
        for turn in range(times):
            index = first + turn % counters
            file.acquire(index, write=True)
            value = read_u64(fd, index * 16) + 1
            write_u64(fd, index * 16, value)
            os.sched_yield()  # widen the window in which a torn counter could be seen
            write_u64(fd, index * 16 + 8, value)
            file.release(index)
    return f"ok {times}"


def audit_counters(file: LocksFile, data: str, first: int, counters: Optional[int], times: int) -> str:
    """``times`` looks at every counter of the range under one read lock: both copies must agree."""
    if counters is None:
        raise ProtocolError("audit needs a bounded range")
    with data_file(data, os.O_RDONLY) as fd:
        for _ in range(times):
            file.acquire(first, counters)
            pairs = [(read_u64(fd, i * 16), read_u64(fd, i * 16 + 8)) for i in range(first, first + counters)]
            file.release(first, counters)
            for index, (a, b) in enumerate(pairs, first):
                if a != b:
                    return f"torn {index} {a} {b}"
    return f"ok {times}"


def race(file: LocksFile, data: str, racer: int, tracks: int, laps: int, log: str) -> str:
    """The seed's hand-over-hand race: take the next track's lock, then let go of this one."""
    began = time.monotonic()
    waits = 0
    visits = []
    total = tracks * laps
    with data_file(data, os.O_RDWR) as fd:

        def take(track: int) -> int:
            nonlocal waits
            if not file.try_acquire(track, write=True):
                waits += 1
                file.acquire(track, write=True)
            visit = read_u64(fd, track * 8) + 1
            write_u64(fd, track * 8, visit)
            return visit

        visits.append(f"0 {take(0)}\n")
        for step in range(1, total):
            here, following = (step - 1) % tracks, step % tracks
            visit = take(following)
            file.release(here)
            visits.append(f"{following} {visit}\n")
            write_u64(fd, (tracks + racer) * 8, step)
        file.release_all()
        write_u64(fd, (tracks + racer) * 8, total)
    with open(log, "w") as out:
        out.writelines(visits)
    return f"ok {total} {waits} {int((time.monotonic() - began) * 1000)}"


if __name__ == "__main__":
    main()
