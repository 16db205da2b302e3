"""Every scenario table replayed for every ordered pair of this project's workers (Rust, Python,
Kotlin, Swift: 16 pairs), and with the foreign peers (fcntl.lockf, FileChannel) on either side."""

from __future__ import annotations

import time

import pytest

from scenarios import BLOCKED, DEADLOCK, FEATURES, PENDING, TABLES, Expect, Scenario
from workers import PAIRS, REPLY_TIMEOUT, Worker


def cases(scenarios):
    return [
        pytest.param(a, b, s, id=f"{s.name}:{a}-{b}")
        for s in scenarios
        for a, b in PAIRS
        if s.playable(a, b)
    ]


def matches(expect, reply: str) -> bool:
    return expect.test(reply) if isinstance(expect, Expect) else reply == expect


def play(scenario: Scenario, a: Worker, b: Worker) -> None:
    roles = {"a": a, "b": b}
    for number, (who, command, expect) in enumerate(scenario.steps, 1):
        worker = roles[who]
        if command == "held" and "held" not in FEATURES[worker.kind]:
            continue  # a peer cannot say what it holds; the other side's checks still run
        if command != PENDING:
            worker.send(command)
        if expect == BLOCKED:
            worker.assert_blocked()
            continue
        reply = worker.reply()
        assert matches(expect, reply), (
            f"step {number}: {who}={worker} {command!r} replied {reply!r}, expected {expect!r}"
        )


@pytest.mark.parametrize("a, b, scenario", cases(TABLES))
def test_scenario(lease, a, b, scenario):
    play(scenario, lease(a, scenario.scope), lease(b, scenario.scope))


def first_reply(workers, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for worker in workers:
            reply = worker.poll(0.02)
            if reply is not None:
                return worker, reply
    raise AssertionError(f"neither of {workers} replied within {timeout} s")


@pytest.mark.parametrize("a, b, scenario", cases([DEADLOCK]))
def test_deadlock(lease, a, b, scenario):
    """Process scope: a cycle of waits between two processes is broken by the kernel (EDEADLK) on
    one side, which holds nothing new; once it lets go, the other side's wait completes."""
    a, b = lease(a, "process"), lease(b, "process")
    assert a.ask("acquire write 0 try") == "ok"
    assert b.ask("acquire write 1 try") == "ok"
    a.send("acquire write 1 block")
    a.assert_blocked()
    b.send("acquire write 0 block")
    told, reply = first_reply([a, b], REPLY_TIMEOUT)
    assert reply.startswith("err Deadlock"), f"{told} replied {reply!r}"
    other = b if told is a else a
    other.assert_blocked()
    if "held" in FEATURES[told.kind]:
        assert told.ask("held") == ("held 0:write" if told is a else "held 1:write")
    assert told.ask("release-all") == "ok"
    assert other.reply() == "ok"
    if "held" in FEATURES[other.kind]:
        assert other.ask("held") == "held 0..2:write"
