"""A worker process holding locks through pylocksfile, driven over stdin/stdout with one reply line
per command (the protocol of the project's test workers):

    open PATH open-file|process     -> ok | err Kind: message
    acquire read|write RANGE block|try|timeout=MS
                                    -> ok | busy | timeout MS | err Kind: message
    release RANGE | release-all     -> ok
    held                            -> held 0:read 1..4:write
    lockf-hold RANGE                -> ok   (stdlib fcntl.lockf, exclusive, on a separate descriptor)
    pid | quit

RANGE is ``3``, ``1..4`` (1, 2, 3) or ``5..`` (from 5 on).
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from typing import Optional, Tuple

from pylocksfile import LocksFile, LocksFileError, Mode, Scope


def parse_range(text: str) -> Tuple[int, Optional[int]]:
    if ".." not in text:
        return int(text), 1
    start, end = text.split("..")
    return int(start), (int(end) - int(start) if end else None)


def describe(start: int, count: Optional[int]) -> str:
    if count is None:
        return f"{start}.."
    return str(start) if count == 1 else f"{start}..{start + count}"


def main() -> None:
    file: Optional[LocksFile] = None
    lockf_fds = []
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        try:
            reply = handle(words, file, lockf_fds)
            if isinstance(reply, LocksFile):
                file, reply = reply, "ok"
        except LocksFileError as error:
            reply = f"err {type(error).__name__}: {error}"
        print(reply, flush=True)


def handle(words, file, lockf_fds):
    command = words[0]
    if command == "pid":
        return str(os.getpid())
    if command == "open":
        scope = Scope.PROCESS if words[2] == "process" else Scope.OPEN_FILE
        return LocksFile(words[1], scope=scope)
    if command == "lockf-hold":
        start, count = parse_range(words[1])
        fd = os.open(file.path, os.O_RDWR)
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, count or 0, start)
        lockf_fds.append(fd)
        return "ok"
    if command == "acquire":
        write = words[1] == "write"
        start, count = parse_range(words[2])
        wait = words[3]
        began = time.monotonic()
        if wait == "block":
            file.acquire(start, count, write=write)
            return "ok"
        if wait == "try":
            return "ok" if file.try_acquire(start, count, write=write) else "busy"
        seconds = int(wait.split("=")[1]) / 1000
        if file.acquire(start, count, write=write, timeout=seconds):
            return "ok"
        return f"timeout {int((time.monotonic() - began) * 1000)}"
    if command == "release":
        start, count = parse_range(words[1])
        file.release(start, count)
        return "ok"
    if command == "release-all":
        file.release_all()
        return "ok"
    if command == "held":
        return " ".join(["held"] + [f"{describe(h.start, h.count)}:{h.mode.value}" for h in file.held()])
    return f"err unknown command {command}"


if __name__ == "__main__":
    main()
