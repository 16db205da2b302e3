"""Fixtures of the cross-language tests: a pool of worker processes reused between tests (a JVM
takes a second to start), a run directory the Swift root filesystem can see, and the pair ×
scenario matrix printed at the end."""

from __future__ import annotations

import re
import shutil
from typing import Dict, List, Tuple

import pytest

from scenarios import COLUMNS
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


# The matrix: rows are ordered pairs of worker kinds, columns the scenarios.
RESULTS: Dict[Tuple[str, str], str] = {}
ROWS: List[str] = []
OTHERS: Dict[str, str] = {}


def row_of(first: str, second: str) -> str:
    return f"{first} × {second}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or report.failed:
        params = getattr(item, "callspec", None)
        params = params.params if params else {}
        if "scenario" in params:
            cell = (row_of(params["a"], params["b"]), params["scenario"].name)
        elif "holder" in params:
            cell = (row_of(params["holder"], params["waiter"]), "crash")
        else:
            OTHERS[item.name] = "FAIL" if report.failed else "pass" if OTHERS.get(item.name) != "FAIL" else "FAIL"
            return
        if cell[0] not in ROWS:
            ROWS.append(cell[0])
        if RESULTS.get(cell) != "FAIL":
            RESULTS[cell] = "FAIL" if report.failed else "pass"


def pytest_terminal_summary(terminalreporter):
    if not RESULTS and not OTHERS:
        return
    write = terminalreporter.write_line
    write("")
    write("cross-language matrix (first × second: who plays a × b; for crash, holder × waiter)")
    width = max([len(r) for r in ROWS] + [9]) + 2
    widths = [max(len(c), 4) + 2 for c in COLUMNS]
    write(" " * width + "".join(c.ljust(w) for c, w in zip(COLUMNS, widths)))
    for row in ROWS:
        cells = [RESULTS.get((row, column), "n/a") for column in COLUMNS]
        write(row.ljust(width) + "".join(c.ljust(w) for c, w in zip(cells, widths)))
    peers = ", ".join(PEERS)
    write(f"n/a: the peer ({peers}) cannot play that scenario (see tests/README.md)")
    for name, outcome in OTHERS.items():
        write(f"{name}: {outcome}")
