"""`locksfile status` names the holders of locks taken by processes of every language (and of
Python's fcntl.lockf), and the requests waiting behind them, with the right pids."""

from __future__ import annotations

import json
import subprocess
import time

from workers import LANGUAGES, ROOT

CLI = ROOT / "target" / "release" / "locksfile"


def status(path) -> dict:
    return json.loads(subprocess.run([str(CLI), "status", str(path), "--json"], check=True, capture_output=True, text=True).stdout)


def test_status_names_every_languages_holders_and_waiters(lease, run_dir):
    path = run_dir / "locks"
    scopes = {"rust": "open-file", "python": "open-file", "kotlin": "process", "swift": "open-file", "lockf": "process"}
    expected = set()
    for number, kind in enumerate(LANGUAGES + ("lockf",)):
        worker = lease(kind, scopes[kind])
        first = 10 * number
        assert worker.ask(f"acquire write {first}..{first + 3} try") == "ok"
        expected.add((f"{first}..{first + 3}", "write", "OFD" if scopes[kind] == "open-file" else "POSIX", "held", worker.pid))
    holder = worker  # the lockf peer holds 40..43
    waiter = lease("swift")
    waiter.send("acquire read 41 block")
    waiter.assert_blocked()
    expected.add(("41", "read", "OFD", "waiting", waiter.pid))
    deadline = time.monotonic() + 10
    while True:
        found = status(path)
        rows = {(l["range"], l["mode"], l["kind"], l["state"], l["pid"]) for l in found["locks"]}
        if rows == expected or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert rows == expected, json.dumps(found, indent=1)
    waiting = [l for l in found["locks"] if l["state"] == "waiting"]
    assert waiting[0]["waits_for"] == [holder.pid]
    table = subprocess.run([str(CLI), "status", str(path)], check=True, capture_output=True, text=True).stdout
    print(table)
    assert len(table.splitlines()) == 1 + len(expected), table
    assert holder.ask("release-all") == "ok"
    assert waiter.reply() == "ok"
