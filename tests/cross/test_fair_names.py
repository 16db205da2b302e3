"""Issue 13 across languages: a name is the same lock in every language and the command, and a fair
writer of one language gets through readers of others that starve a plain writer."""

from __future__ import annotations

import os
import random
import subprocess
import time

import pytest

from workers import LANGUAGES, ROOT

CLI = ROOT / "target" / "release" / "locksfile"
#: index_of("dataset-42"), pinned in core/src/name.rs and computed from the formula in Python.
DATASET_42 = "2370090560691594753"


def test_every_language_maps_a_name_to_the_same_index(lease):
    indices = {kind: lease(kind).ask("index-of dataset-42") for kind in LANGUAGES}
    assert set(indices.values()) == {DATASET_42}, indices


def cli_run(path, *locks: str) -> int:
    """`locksfile run` taking `locks` without waiting; its exit status (0: it got them)."""
    return subprocess.run([str(CLI), "run", str(path), *locks, "--nonblock", "--", "true"], capture_output=True).returncode


@pytest.mark.parametrize("holder", LANGUAGES)
def test_the_same_name_excludes_in_every_language_and_another_does_not(lease, run_dir, holder):
    first = lease(holder)
    others = [lease(kind) for kind in LANGUAGES if kind != holder]
    assert first.ask("acquire write name:dataset-42 block") == "ok"
    for other in others:
        assert other.ask("acquire read name:dataset-42 try") == "busy", other
        assert other.ask("acquire write name:dataset-43 try") == "ok", other
        assert other.ask("release name:dataset-43") == "ok"
    assert cli_run(run_dir / "locks", "--read", "name:dataset-42") != 0
    assert cli_run(run_dir / "locks", "--write", "name:dataset-43") == 0
    assert first.ask("release name:dataset-42") == "ok"
    for other in others:
        assert other.ask("acquire read name:dataset-42 try") == "ok", other
    assert first.ask("acquire write name:dataset-42 try") == "busy"
    assert cli_run(run_dir / "locks", "--read", "name:dataset-42") == 0


def readers_holding(path, index: int) -> int:
    """How many read locks on `index` of the file at `path` are held now (`/proc/locks`)."""
    inode = f":{os.stat(path).st_ino} "
    count = 0
    with open("/proc/locks") as locks:
        for line in locks:
            fields = line.split()
            if "->" in line or inode not in line or "READ" not in fields:
                continue
            start, end = fields[-2], fields[-1]
            if int(start) <= index and (end == "EOF" or index <= int(end)):
                count += 1
    return count


def wait_for_readers(path, index: int, at_least: int) -> None:
    deadline = time.monotonic() + 20  # a hang guard, not a timing assertion
    while readers_holding(path, index) < at_least:
        assert time.monotonic() < deadline, f"fewer than {at_least} readers hold {index}"
        time.sleep(0.001)


def wait_for_a_waiting_request(path) -> None:
    inode = f":{os.stat(path).st_ino} "
    deadline = time.monotonic() + 20  # a hang guard, not a timing assertion
    while True:
        with open("/proc/locks") as locks:
            if any("->" in line and inode in line for line in locks):
                return
        assert time.monotonic() < deadline, "no request waits"
        time.sleep(0.001)


def test_a_fair_python_writer_gets_through_kotlin_and_swift_readers(lease, run_dir):
    path = run_dir / "locks"
    seed = int(os.environ.get("LOCKSFILE_FAIR_SEED", random.randrange(2**63)))
    print(f"fair seed: {seed} (LOCKSFILE_FAIR_SEED={seed} repeats it)")
    # Four reader processes, two Kotlin and two Swift, each holding index 0 for 2-12 ms and taking
    # it again at once: index 0 is never free.
    readers = [lease(kind) for kind in ("kotlin", "swift", "kotlin", "swift")]
    for number, reader in enumerate(readers):
        assert reader.ask(f"keep-reading 0 {seed + number} 2 12") == "ok", reader
    try:
        wait_for_readers(path, 0, 3)
        # The control: a writer that is not fair is starved.
        plain = lease("python")
        assert plain.ask("acquire write 0 timeout=2000").startswith("timeout"), "the readers never starved a plain writer"
        fair = lease("python", "open-file+fair")
        waits = []
        for _ in range(30):
            wait_for_readers(path, 0, 3)
            asked = time.monotonic()
            assert fair.ask("acquire write 0 block") == "ok"
            waits.append(time.monotonic() - asked)
            assert fair.ask("release 0") == "ok"
        waits.sort()
        p99 = waits[-(-len(waits) * 99 // 100) - 1]
        print(f"fair Python writer behind Kotlin and Swift readers: median {waits[len(waits) // 2] * 1000:.1f} ms, "
              f"p99 {p99 * 1000:.1f} ms (round trip to the worker included)")
        assert p99 <= 0.1, f"p99 {p99 * 1000:.1f} ms (seed {seed})"
    finally:
        for reader in readers:
            assert reader.ask("stop-reading") == "ok", reader


@pytest.mark.parametrize("writer", LANGUAGES)
def test_a_waiting_fair_writer_holds_back_fair_readers_of_every_language(lease, run_dir, writer):
    inside = lease("rust", "open-file+fair")
    fair_writer = lease(writer, "open-file+fair")
    late = [lease(kind, "open-file+fair") for kind in LANGUAGES]
    plain = lease("python")
    assert inside.ask("acquire read 5 block") == "ok"
    fair_writer.send("acquire write 5 block")
    wait_for_a_waiting_request(run_dir / "locks")
    for reader in late:
        assert reader.ask("acquire read 5 try") == "busy", reader
    assert plain.ask("acquire read 5 try") == "ok", "a plain reader does not wait at the gate"
    assert plain.ask("release 5") == "ok"
    assert inside.ask("release 5") == "ok"
    assert fair_writer.reply() == "ok"
    assert fair_writer.ask("release 5") == "ok"
    for reader in late:
        assert reader.ask("acquire read 5 try") == "ok", reader
