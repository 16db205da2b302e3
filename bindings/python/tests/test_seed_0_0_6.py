"""Interoperability with the original pylocksfile 0.0.6 from PyPI (the Python leg installs it into
its own directory, named by LOCKSFILE_SEED_0_0_6): a process running it and a process running this
package exclude each other lock by lock, both ways, in both of our scopes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pylocksfile import LocksFile, Scope, pylocksfile

#: A process running 0.0.6 (its directory first on the path): takes what it is told, answers.
SEED_PEER = """
import sys
from pylocksfile import pylocksfile
assert not hasattr(pylocksfile, "file"), "this must be 0.0.6, not the new package"
locks = pylocksfile(sys.argv[1])
for line in sys.stdin:
    verb, write, start, count = line.split()
    if verb == "try":
        print(locks.acquire(writeLock=write == "write", lock_n=(int(start), int(count)), blocking=False), flush=True)
    else:
        locks.release(lock_n=(int(start), int(count)))
        print("released", flush=True)
"""


@pytest.fixture
def seed_peer(lock_path):
    site = os.environ.get("LOCKSFILE_SEED_0_0_6")
    assert site and os.path.isfile(os.path.join(site, "pylocksfile.py")), (
        "pylocksfile 0.0.6 is not installed: `cargo make test-python` puts it in target/py/seed-0.0.6"
    )
    lock_path.touch()  # 0.0.6 truncates the file when it opens it: there is nothing in it to lose
    env = dict(os.environ, PYTHONPATH=site)
    peer = subprocess.Popen([sys.executable, "-c", SEED_PEER, str(lock_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def ask(verb: str, mode: str, start: int, count: int = 1) -> str:
        peer.stdin.write(f"{verb} {mode} {start} {count}\n")
        peer.stdin.flush()
        return peer.stdout.readline().strip()

    yield ask
    peer.kill()
    peer.wait()


@pytest.mark.parametrize("scope", [Scope.OPEN_FILE, Scope.PROCESS])
def test_the_original_0_0_6_and_this_package_exclude_each_other(lock_path, seed_peer, scope):
    assert seed_peer("try", "write", 5) == "True"
    assert seed_peer("try", "read", 10, 3) == "True"
    ours = LocksFile(lock_path, scope=scope)
    assert ours.try_acquire(5) is False, "0.0.6's write lock on 5 does not exclude us"
    assert ours.try_acquire(4, write=True) and ours.try_acquire(6, write=True)
    assert ours.try_acquire(11) is True and ours.try_acquire(12, write=True) is False
    assert seed_peer("release", "-", 5) == "released"
    assert ours.try_acquire(5, write=True)
    assert seed_peer("try", "read", 5) == "False", "our write lock on 5 does not exclude 0.0.6"
    assert seed_peer("try", "write", 11) == "False", "our read lock on 11 does not exclude 0.0.6's writer"
    assert seed_peer("try", "read", 11) == "True", "readers share"
    ours.close()
    assert seed_peer("try", "write", 4, 3) == "True"


def test_the_seed_api_of_this_package_and_0_0_6_exclude_each_other(lock_path, seed_peer):
    assert seed_peer("try", "write", 1, 3) == "True"
    ours = pylocksfile(str(lock_path))
    assert ours.acquire(writeLock=False, lock_n=2, blocking=False) is False
    assert ours.acquire(writeLock=True, lock_n=(4, 2), blocking=False) is True
    assert seed_peer("try", "read", 5) == "False"
