"""acquire+release of one lock, uncontended: pylocksfile (both APIs) against the standard library's
fcntl.lockf pair (the baseline), pylocksfile 0.0.6, filelock, fasteners and portalocker, in one run.
Batches of each take turns, so drift on the machine affects all alike; the median batch counts, in
wall time (the report's) and in this thread's CPU time (which other processes' turns do not add to).

Run by ``cargo make bench-python`` (which installs the peers into the benchmark's own venv). A
second table measures pylocksfile again on the hot calls' ctypes fallback (the path of PyPy and
CPython 3.9), in a process of its own (``PYLOCKSFILE_FAST_LANE=ctypes``; printed only). Then the
hand-off latency between two processes (``handoff.py``). ``count KIND N`` runs N pairs of one kind
(lockf, try, acquire, guard, seed) for ``scripts/python-instructions``.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, NamedTuple, Tuple

import handoff  # this directory's

# Many short batches, taking turns in a rotating order: on a loaded machine a batch that another
# process preempts is an outlier the median ignores, and no pair always follows the same other.
BATCHES = 31
BATCH_SECONDS = 0.02
GOAL = 1.5  # issue 12: every pylocksfile API within 1.5x the lockf pair
FLOOR = "fcntl.lockf pair (baseline)"


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


class Measured(NamedTuple):
    wall: float  # median µs per pair, wall time
    cpu: float  # median µs per pair, this thread's CPU time (what other processes' turns do not add)
    batches: List[float]  # every batch's wall µs per pair, in the order run


def measure(pairs: Dict[str, Callable[[], None]]) -> Dict[str, Measured]:
    names = list(pairs)
    sizes = {name: calibrate(pair) for name, pair in pairs.items()}
    wall: Dict[str, List[float]] = {name: [] for name in names}
    cpu: Dict[str, List[float]] = {name: [] for name in names}
    for batch in range(BATCHES):
        for turn in range(len(names)):
            name = names[(batch + turn) % len(names)]
            pair, n = pairs[name], sizes[name]
            began, began_cpu = time.perf_counter(), time.thread_time()
            for _ in range(n):
                pair()
            wall[name].append((time.perf_counter() - began) / n * 1e6)
            cpu[name].append((time.thread_time() - began_cpu) / n * 1e6)
    median = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
    return {name: Measured(median(wall[name]), median(cpu[name]), wall[name]) for name in names}


def our_pairs(directory: str) -> Dict[str, Tuple[str, Callable[[], None]]]:
    """The floor and pylocksfile's APIs, each one lock taken and dropped: {kind: (label, pair)}."""
    from pylocksfile import LocksFile, pylocksfile

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

    return {
        "lockf": (FLOOR, lockf_pair),
        "try": ("pylocksfile LocksFile.try_acquire", try_pair),
        "acquire": ("pylocksfile LocksFile.acquire", acquire_pair),
        "guard": ("pylocksfile with lf.write(i)", guard_pair),
        "seed": ("pylocksfile seed API acquire", seed_pair),
    }


def main() -> None:
    from pylocksfile import _fastlane

    if sys.argv[1:2] == ["count"]:  # count KIND N: N pairs of one kind (scripts/python-instructions)
        kind, calls = sys.argv[2], int(sys.argv[3])
        pair = our_pairs(tempfile.mkdtemp(prefix="pylocksfile-count-"))[kind][1]
        for _ in range(calls):
            pair()
        return
    seed_site = sys.argv[1]
    ours_only = sys.argv[2:] == ["--ours-only"]
    directory = tempfile.mkdtemp(prefix="pylocksfile-bench-")
    path = lambda name: os.path.join(directory, name)  # noqa: E731
    pairs = {label: pair for label, pair in our_pairs(directory).values()}
    if ours_only:
        report(measure(pairs), _fastlane.implementation)
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

    peers = {
        "pylocksfile 0.0.6 (PyPI)": old_pair,
        "filelock FileLock": filelock_pair,
        "fasteners InterProcessLock": fasteners_pair,
        "fasteners ReaderWriterLock (write)": fasteners_rw_pair,
        "portalocker Lock": portalocker_pair,
    }
    results = measure({**pairs, **peers})
    report(results, _fastlane.implementation)
    fastest_peer = min(peers, key=lambda name: results[name].wall)
    print(f"fastest peer: {fastest_peer} at {results[fastest_peer].wall / results[FLOOR].wall:.2f}x")
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

        entries = [{"name": name, "kind": "floor" if name == FLOOR else "peer" if name in peers else "api",
                    "median_ns": measured.wall * 1000, "samples_ns": [us * 1000 for us in measured.batches]}
                   for name, measured in results.items()]
        with open(out, "w") as dump:
            json.dump({"schema": 1, "language": "python", "runtime": f"Python {sys.version.split()[0]}",
                       "pairs": {"what": "acquire+release of one lock, uncontended (wall time)", "batches": BATCHES,
                                 "floor": FLOOR, "entries": entries},
                       "handoff": handoffs}, dump, indent=2)
        print(f"results: {out}")


def report(results: Dict[str, Measured], implementation: str) -> None:
    floor = results[FLOOR]
    hot = {"compiled": "the entry point compiled into liblocksfile_ffi.so", "ctypes": "the ctypes fallback"}[implementation]
    print(f"acquire+release of one lock, uncontended (Python {sys.version.split()[0]}; median of {BATCHES} interleaved batches;"
          f" hot calls: {hot})")
    print(f"{'':38} {'wall µs/pair':>12} {'vs lockf':>9} {'CPU µs/pair':>12} {'vs lockf':>9}")
    for name, measured in results.items():
        print(f"{name:38} {measured.wall:12.2f} {measured.wall / floor.wall:8.2f}x {measured.cpu:12.2f} {measured.cpu / floor.cpu:8.2f}x")
    ours = [name for name in results if name.startswith("pylocksfile ") and "0.0.6" not in name]
    wall = max(results[name].wall / floor.wall for name in ours)
    cpu = max(results[name].cpu / floor.cpu for name in ours)
    print(f"slowest pylocksfile API ({implementation}): {wall:.2f}x lockf in wall time, {cpu:.2f}x in CPU time (goal: within {GOAL}x)")


if __name__ == "__main__":
    main()
