"""Interoperability: lock i is byte i, so the standard library's fcntl.lockf in another process
conflicts with pylocksfile's lock i, both ways."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys

from pylocksfile import LocksFile, Scope

LOCKF_TRY = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
start, count, mode = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
try:
    fcntl.lockf(fd, (fcntl.LOCK_EX if mode == "write" else fcntl.LOCK_SH) | fcntl.LOCK_NB, count, start)
    print("ok")
except OSError:
    print("busy")
"""


def lockf_can_take(path, start: int, count: int, mode: str) -> bool:
    out = subprocess.run([sys.executable, "-c", LOCKF_TRY, str(path), str(start), str(count), mode], capture_output=True, text=True, check=True)
    return out.stdout.strip() == "ok"


def test_lockf_in_another_process_sees_our_lock_i_as_byte_i(lock_path):
    for scope in (Scope.OPEN_FILE, Scope.PROCESS):
        lf = LocksFile(lock_path, scope=scope)
        lf.acquire(5, write=True)
        lf.acquire(10, 3)
        assert not lockf_can_take(lock_path, 5, 1, "read")
        assert lockf_can_take(lock_path, 4, 1, "write") and lockf_can_take(lock_path, 6, 1, "write")
        assert lockf_can_take(lock_path, 11, 1, "read") and not lockf_can_take(lock_path, 12, 1, "write")
        assert lockf_can_take(lock_path, 13, 1, "write")
        lf.close()


def test_our_lock_i_sees_lockf_in_another_process_as_byte_i(lock_path, workers):
    holder = workers()
    assert holder.ask("lockf-hold 7..9") == "ok"
    lf = LocksFile(lock_path)
    assert lf.try_acquire(7) is False and lf.try_acquire(8, write=True) is False
    assert lf.try_acquire(6, write=True) and lf.try_acquire(9, write=True)
    holder.close()
    assert lf.try_acquire(7, 2, write=True)


def test_lockf_in_this_process_conflicts_with_open_file_scope(lock_path):
    # Classic and open-file-description locks conflict even within one process.
    lf = LocksFile(lock_path)
    fd = os.open(lock_path, os.O_RDWR)
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 3)
    assert lf.try_acquire(3) is False
    os.close(fd)
    assert lf.try_acquire(3, write=True)
