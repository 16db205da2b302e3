"""A holder of each kind is killed with SIGKILL while a waiter of each kind waits: the kernel frees
the dead process's locks and the waiter proceeds."""

from __future__ import annotations

import pytest

from scenarios import FEATURES
from workers import PAIRS


@pytest.mark.parametrize("holder, waiter", PAIRS, ids=[f"{h}-killed-{w}-waits" for h, w in PAIRS])
def test_killed_holder_frees_its_locks(lease, holder, waiter):
    holder, waiter = lease(holder), lease(waiter)
    assert holder.ask("acquire write 0..4 block") == "ok"
    assert holder.ask("acquire read 10 block") == "ok"
    waiter.send("acquire write 2 block")
    waiter.assert_blocked()
    holder.kill()  # SIGKILL: no unlock, no exit handler; only the kernel cleans up
    assert waiter.reply() == "ok"
    assert waiter.ask("acquire write 10 try") == "ok"
    if "held" in FEATURES[waiter.kind]:
        assert waiter.ask("held") == "held 2:write 10:write"
