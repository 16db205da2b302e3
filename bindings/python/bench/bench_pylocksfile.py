"""acquire+release of one lock, uncontended: pylocksfile (both APIs) against the standard library's
fcntl.lockf pair (the baseline), pylocksfile 0.0.6, filelock, fasteners and portalocker, in one run.
Batches of each take turns, so drift on the machine affects all alike; the median batch counts.

Run by ``cargo make bench-python`` (which installs the peers into the benchmark's own venv). A
second, shorter table measures pylocksfile again on the hot calls' ctypes fallback (the path of
PyPy and CPython 3.9), in a process of its own (``PYLOCKSFILE_FAST_LANE=ctypes``; printed only).
Then the hand-off latency between two processes (``handoff.py``).
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Tuple

import handoff  # this directory's

BATCHES = 9
BATCH_SECONDS = 0.08


def load_seed_0_0_6(site: str):
    """pylocksfile 0.0.6 from its own directory, under another module name (ours is pylocksfile)."""
    spec = importlib.util.spec_from_file_location("pylocksfile_0_0_6", os.path.join(site, "pylocksfile.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def calibrate(pair: Callable[[], None]) -> int:
    calls = 16
    while True:
        began = time.perf_counter()
        for _ in range(calls):
            pair()
        took = time.perf_counter() - began
        if took > BATCH_SECONDS / 4:
            return max(1, int(calls * BATCH_SECONDS / took))
        calls *= 4


def measure(pairs: Dict[str, Callable[[], None]]) -> Tuple[Dict[str, float], Dict[str, List[float]]]:
    """The median µs per pair of each, and every batch's (in the order run)."""
    sizes = {name: calibrate(pair) for name, pair in pairs.items()}
    times: Dict[str, List[float]] = {name: [] for name in pairs}
    for _ in range(BATCHES):
        for name, pair in pairs.items():
            n = sizes[name]
            began = time.perf_counter()
            for _ in range(n):
                pair()
            times[name].append((time.perf_counter() - began) / n * 1e6)
    return {name: sorted(values)[BATCHES // 2] for name, values in times.items()}, times


GOAL = 1.5  # issue 12: every pylocksfile API within 1.5x the lockf pair


def main() -> None:
    from pylocksfile import LocksFile, _fastlane, pylocksfile

    seed_site = sys.argv[1]
    ours_only = sys.argv[2:] == ["--ours-only"]
    directory = tempfile.mkdtemp(prefix="pylocksfile-bench-")
    path = lambda name: os.path.join(directory, name)  # noqa: E731

    fd = os.open(path("lockf.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    lf = LocksFile(path("new.lock"))
    seed = pylocksfile(path("seed.lock"))

    def lockf_pair() -> None:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 5)
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, 5)

    def try_pair() -> None:
        lf.try_acquire(5, write=True)
        lf.release(5)

    def acquire_pair() -> None:
        lf.acquire(5, write=True)
        lf.release(5)

    def guard_pair() -> None:
        with lf.write(5):
            pass

    def seed_pair() -> None:
        seed.acquire(writeLock=True, lock_n=5)
        seed.release(lock_n=5)

    pairs = {
        "fcntl.lockf pair (baseline)": lockf_pair,
        "pylocksfile LocksFile.try_acquire": try_pair,
        "pylocksfile LocksFile.acquire": acquire_pair,
        "pylocksfile with lf.write(i)": guard_pair,
        "pylocksfile seed API acquire": seed_pair,
    }
    if ours_only:
        report(pairs, measure(pairs)[0], _fastlane.implementation)
        return

    import fasteners
    import filelock
    import portalocker

    old = load_seed_0_0_6(seed_site)
    seed_old = old.pylocksfile(path("old.lock"))
    file_lock = filelock.FileLock(path("filelock.lock"))
    fasteners_lock = fasteners.InterProcessLock(path("fasteners.lock"))
    fasteners_rw = fasteners.InterProcessReaderWriterLock(path("fasteners-rw.lock"))
    portal = portalocker.Lock(path("portalocker.lock"), fail_when_locked=True)

    def old_pair() -> None:
        seed_old.acquire(writeLock=True, lock_n=5)
        seed_old.release(lock_n=5)

    def filelock_pair() -> None:
        file_lock.acquire()
        file_lock.release()

    def fasteners_pair() -> None:
        fasteners_lock.acquire()
        fasteners_lock.release()

    def fasteners_rw_pair() -> None:
        fasteners_rw.acquire_write_lock()
        fasteners_rw.release_write_lock()

    def portalocker_pair() -> None:
        portal.acquire()
        portal.release()

    pairs.update({
        "pylocksfile 0.0.6 (PyPI)": old_pair,
        "filelock FileLock": filelock_pair,
        "fasteners InterProcessLock": fasteners_pair,
        "fasteners ReaderWriterLock (write)": fasteners_rw_pair,
        "portalocker Lock": portalocker_pair,
    })
    results, batches = measure(pairs)
    report(pairs, results, _fastlane.implementation)
    peers = {name: results[name] for name in pairs if not name.startswith("pylocksfile ") or "0.0.6" in name}
    baseline = peers.pop("fcntl.lockf pair (baseline)")
    fastest_peer = min(peers, key=peers.get)
    print(f"fastest peer: {fastest_peer} at {peers[fastest_peer] / baseline:.2f}x")
    # The same pylocksfile calls on the ctypes fallback, in a process that forces it (its table is
    # printed, not written: its ratios are against its own lockf batches).
    print()
    environment = dict(os.environ, PYLOCKSFILE_FAST_LANE="ctypes")
    environment.pop("LOCKSFILE_BENCH_JSON", None)
    subprocess.run([sys.executable, __file__, seed_site, "--ours-only"], env=environment, check=True)
    print()
    handoffs = handoff.measure(directory)

    # What was measured, for the report (scripts/bench-report documents the schema; cargo make
    # bench-python sets the path and adds the date, machine and command).
    out = os.environ.get("LOCKSFILE_BENCH_JSON")
    if out:
        import json

        floor = "fcntl.lockf pair (baseline)"
        entries = [{"name": name, "kind": "floor" if name == floor else "peer" if name in peers else "api",
                    "median_ns": micros * 1000, "samples_ns": [us * 1000 for us in batches[name]]} for name, micros in results.items()]
        with open(out, "w") as dump:
            json.dump({"schema": 1, "language": "python", "runtime": f"Python {sys.version.split()[0]}",
                       "pairs": {"what": "acquire+release of one lock, uncontended", "batches": BATCHES,
                                 "floor": floor, "entries": entries},
                       "handoff": handoffs}, dump, indent=2)
        print(f"results: {out}")


def report(pairs: Dict[str, Callable[[], None]], results: Dict[str, float], implementation: str) -> None:
    baseline = results["fcntl.lockf pair (baseline)"]
    hot = {"compiled": "the entry point compiled into liblocksfile_ffi.so", "ctypes": "the ctypes fallback"}[implementation]
    print(f"acquire+release of one lock, uncontended (Python {sys.version.split()[0]}; median of {BATCHES} interleaved batches;"
          f" hot calls: {hot})")
    print(f"{'':38} {'µs/pair':>9} {'vs lockf':>9}")
    for name, micros in results.items():
        print(f"{name:38} {micros:9.2f} {micros / baseline:8.2f}x")
    ours = max(results[name] for name in pairs if name.startswith("pylocksfile ") and "0.0.6" not in name)
    print(f"slowest pylocksfile API ({implementation}): {ours / baseline:.2f}x lockf (goal: within {GOAL}x)")


if __name__ == "__main__":
    main()
