"""Fixtures of the cross-language tests: a pool of worker processes reused between tests (a JVM
takes a second to start), a run directory the Swift root filesystem can see, and the pair ×
scenario matrix printed at the end."""

from __future__ import annotations

import re
import shutil
from typing import Dict, List, Tuple

import pytest

from scenarios import COLUMNS, DEADLOCK, TABLES
from workers import PEERS, RUN_DIR, Worker, WorkerGone


class Pool:
    """Idle workers by kind. A worker goes back only when it has nothing pending and closes its file."""

    def __init__(self) -> None:
        self.idle: Dict[str, List[Worker]] = {}

    def take(self, kind: str) -> Worker:
        idle = self.idle.setdefault(kind, [])
        return idle.pop() if idle else Worker(kind)

    def give_back(self, worker: Worker) -> None:
        try:
            healthy = worker.pending == 0 and worker.ask("close", timeout=5) == "ok"
        except (AssertionError, WorkerGone):
            healthy = False
        if healthy and worker.process.poll() is None:
            self.idle.setdefault(worker.kind, []).append(worker)
        else:
            worker.kill()

    def shutdown(self) -> None:
        for workers in self.idle.values():
            for worker in workers:
                worker.stop()


@pytest.fixture(scope="session")
def pool():
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    pool = Pool()
    yield pool
    pool.shutdown()


@pytest.fixture
def run_dir(request):
    """A fresh directory for this test's lock and data files, under the project."""
    path = RUN_DIR / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def lease(pool, run_dir):
    """``lease(kind, scope)``: a worker from the pool with this test's lock file open; returned after."""
    taken: List[Worker] = []

    def lease(kind: str, scope: str = "open-file") -> Worker:
        worker = pool.take(kind)
        taken.append(worker)
        opened = worker.ask(f"open {run_dir / 'locks'} {scope}")
        assert opened == "ok", f"{worker}: open -> {opened}"
        return worker

    yield lease
    for worker in taken:
        pool.give_back(worker)


SCENARIOS = {s.name: s for s in TABLES + (DEADLOCK,)}

# The matrix, (row, column) -> outcome, rows being ordered pairs of worker kinds and columns the
# scenarios; and the outcome of every other test, by name. A failure in any phase sticks.
RESULTS: Dict[Tuple[Tuple[str, str], str], str] = {}
OTHERS: Dict[str, str] = {}


def record(table: dict, key, failed: bool) -> None:
    if table.get(key) != "FAIL":
        table[key] = "FAIL" if failed else "pass"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" and not report.failed:
        return
    params = item.callspec.params if hasattr(item, "callspec") else {}
    if "scenario" in params:
        record(RESULTS, ((params["a"], params["b"]), params["scenario"].name), report.failed)
    elif "holder" in params and "waiter" in params:  # test_crash's pairs (other tests may name a holder)
        record(RESULTS, ((params["holder"], params["waiter"]), "crash"), report.failed)
    else:
        record(OTHERS, item.name, report.failed)


def cell(pair: Tuple[str, str], column: str) -> str:
    """The outcome; `n/a` where the pair cannot play the scenario, `-` where it did not run."""
    if (pair, column) in RESULTS:
        return RESULTS[(pair, column)]
    scenario = SCENARIOS.get(column)
    return "n/a" if scenario is not None and not scenario.playable(*pair) else "-"


def pytest_terminal_summary(terminalreporter):
    if not RESULTS and not OTHERS:
        return
    write = terminalreporter.write_line
    write("")
    write("cross-language matrix (first × second: who plays a × b; for crash, holder × waiter)")
    pairs = list(dict.fromkeys(pair for pair, _ in RESULTS))
    names = [f"{a} × {b}" for a, b in pairs]
    width = max([len(n) for n in names] + [9]) + 2
    widths = [max(len(c), 4) + 2 for c in COLUMNS]
    write(" " * width + "".join(c.ljust(w) for c, w in zip(COLUMNS, widths)))
    for pair, name in zip(pairs, names):
        write(name.ljust(width) + "".join(cell(pair, c).ljust(w) for c, w in zip(COLUMNS, widths)))
    write(f"n/a: the peer ({', '.join(PEERS)}) cannot play that scenario (see tests/README.md); -: not run")
    for name, outcome in OTHERS.items():
        write(f"{name}: {outcome}")
