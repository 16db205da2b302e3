"""The scenario tables: steps of two workers, ``a`` and ``b``, each a (who, command, expected reply).

A table is replayed for every ordered pair of worker kinds that can play it. Expected replies are
exact strings, ``BLOCKED`` (no reply for a while: the command waits), or a predicate; the command
``PENDING`` takes the reply of that worker's blocked command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Dict, FrozenSet, Tuple, Union

from workers import LANGUAGES

BLOCKED = "<still blocked>"
PENDING = "<reply to the blocked command>"


class Expect:
    """A predicate on a reply, with a description for failure messages."""

    def __init__(self, text: str, test: Callable[[str], bool]) -> None:
        self.text, self.test = text, test

    def __repr__(self) -> str:
        return self.text


#: How late a timed wait may give up on this shared machine (a bound that only catches a wait the
#: deadline did not end: the requirement is milliseconds).
LATE_MS = 10_000


def timed_out_after(ms: int) -> Expect:
    """``timeout MS`` with MS at least the timeout asked for (less 10 ms for clock rounding), and
    not far past it."""

    def test(reply: str) -> bool:
        match = re.fullmatch(r"timeout (\d+)", reply)
        return bool(match) and ms - 10 <= int(match.group(1)) < ms + LATE_MS

    return Expect(f"'timeout N' with {ms - 10} <= N < {ms + LATE_MS}", test)


Reply = Union[str, Expect]
Step = Tuple[str, str, Reply]

#: What each kind of worker can do beyond plain acquire/release: report what it holds (``held``),
#: wait with a timeout, convert a range it holds to the other mode.
FEATURES: Dict[str, FrozenSet[str]] = {
    **{language: frozenset({"held", "timeout", "convert"}) for language in LANGUAGES},
    "lockf": frozenset({"convert"}),  # classic fcntl locks convert in place; lockf has no timeout
    "channel": frozenset(),  # one JVM may not lock a range overlapping one it holds
}


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: Tuple[Step, ...]
    scope: str = "open-file"
    #: Features (besides ``held``, which is only an observation) each role's worker must have.
    needs: Dict[str, FrozenSet[str]] = field(default_factory=dict)

    def playable(self, a: str, b: str) -> bool:
        return all(self.needs.get(role, frozenset()) <= FEATURES[kind] for role, kind in (("a", a), ("b", b)))

    def __repr__(self) -> str:
        return self.name


EXCLUSION = Scenario("exclusion", (
    ("a", "acquire write 3 try", "ok"),
    ("b", "acquire write 3 try", "busy"),
    ("b", "acquire read 3 try", "busy"),
    ("b", "acquire write 2..5 try", "busy"),
    ("b", "held", "held"),
    ("b", "acquire write 4 try", "ok"),
    ("b", "acquire write 3 block", BLOCKED),
    ("a", "release 3", "ok"),
    ("b", PENDING, "ok"),
    ("a", "acquire read 3 try", "busy"),
    ("a", "acquire read 4 try", "busy"),
    ("a", "acquire read 5 try", "ok"),
    ("b", "held", "held 3..5:write"),
))

SHARED_READERS = Scenario("shared readers", (
    ("a", "acquire read 0..4 try", "ok"),
    ("b", "acquire read 0..4 try", "ok"),
    ("b", "acquire write 0..4 try", "busy"),  # neither reader can upgrade while the other reads
    ("a", "acquire write 2 try", "busy"),
    ("a", "held", "held 0..4:read"),  # a failed upgrade leaves the read lock as it was
    ("b", "release-all", "ok"),
    ("a", "acquire write 2 try", "ok"),
    ("a", "held", "held 0..2:read 2:write 3:read"),
    ("b", "acquire read 1 try", "ok"),
    ("b", "acquire read 2 try", "busy"),
    ("b", "acquire read 3 try", "ok"),
), needs={"a": frozenset({"convert"}), "b": frozenset({"convert"})})

INTERVAL_ATOMICITY = Scenario("interval atomicity", (
    ("a", "acquire write 5 try", "ok"),
    ("b", "acquire write 0..10 try", "busy"),
    ("b", "held", "held"),  # nothing of the interval was taken
    ("a", "acquire write 0 try", "ok"),  # ...as a sees from outside
    ("a", "release 0", "ok"),
    ("b", "acquire write 0..10 block", BLOCKED),
    ("a", "acquire write 0 try", "ok"),  # a waiting interval holds none of its indices
    ("a", "acquire read 9 try", "ok"),
    ("a", "release 5", "ok"),
    ("b", PENDING, BLOCKED),
    ("a", "release-all", "ok"),
    ("b", PENDING, "ok"),  # ...and then it takes all of them at once
    ("a", "acquire read 0 try", "busy"),
    ("a", "acquire read 9 try", "busy"),
    ("a", "acquire read 10 try", "ok"),
    ("b", "held", "held 0..10:write"),
))

CONVERSION = Scenario("conversion", (
    ("a", "acquire write 0..4 try", "ok"),
    ("b", "acquire read 1 try", "busy"),
    ("a", "acquire read 0..4 try", "ok"),  # write -> read in place: others may read now
    ("a", "held", "held 0..4:read"),
    ("b", "acquire read 1 try", "ok"),
    ("b", "acquire write 1 try", "busy"),
    ("a", "acquire write 2 try", "ok"),  # read -> write of one index
    ("a", "held", "held 0..2:read 2:write 3:read"),
    ("b", "acquire read 2 try", "busy"),
    ("b", "acquire read 3 try", "ok"),
    ("a", "acquire write 0..4 block", BLOCKED),  # the upgrade waits for b's readers of 1 and 3
    ("b", "release 1", "ok"),
    ("a", PENDING, BLOCKED),
    ("b", "release 3", "ok"),
    ("a", PENDING, "ok"),
    ("a", "held", "held 0..4:write"),
    ("b", "acquire read 3 try", "busy"),
), needs={"a": frozenset({"convert"}), "b": frozenset({"convert"})})

RELEASE_ALL = Scenario("release-all", (
    ("a", "acquire write 0..3 try", "ok"),
    ("a", "acquire read 10 try", "ok"),
    ("a", "acquire write 20.. try", "ok"),
    ("a", "held", "held 0..3:write 10:read 20..:write"),
    ("b", "acquire write 1 try", "busy"),
    ("b", "acquire read 10 try", "ok"),
    ("b", "acquire write 1000000 try", "busy"),
    ("b", "release-all", "ok"),
    ("b", "acquire write 0..30 block", BLOCKED),
    ("a", "release-all", "ok"),
    ("b", PENDING, "ok"),
    ("a", "held", "held"),
    ("a", "acquire read 25 try", "busy"),
    ("a", "acquire write 1000000 try", "ok"),
))

TIMEOUT = Scenario("timeout", (
    ("a", "acquire write 7 try", "ok"),
    ("b", "acquire write 7 timeout=200", timed_out_after(200)),
    ("b", "held", "held"),
    ("b", "acquire read 6..9 timeout=100", timed_out_after(100)),
    ("b", "acquire write 8 timeout=100", "ok"),
    ("b", "acquire write 7 timeout=20000", BLOCKED),
    ("a", "release 7", "ok"),
    ("b", PENDING, "ok"),
    ("b", "held", "held 7..9:write"),
    ("a", "acquire read 7 try", "busy"),
), needs={"b": frozenset({"timeout"})})

#: Replayed by a function of its own (either side may be the one told): a takes 0, b takes 1, a
#: waits for 1, b asks for 0. The kernel refuses one of the two waits with EDEADLK.
DEADLOCK = Scenario("deadlock", (), scope="process")

TABLES = (EXCLUSION, SHARED_READERS, INTERVAL_ATOMICITY, CONVERSION, RELEASE_ALL, TIMEOUT)
#: The matrix's columns, in order.
COLUMNS = tuple(s.name for s in TABLES) + (DEADLOCK.name, "crash")
