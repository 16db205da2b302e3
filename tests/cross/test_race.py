"""The seed's race (pylocksfile's testRace) with racers of all four languages in one race."""

from __future__ import annotations

import struct

from race import order_holds, race
from workers import LANGUAGES

TRACKS, LAPS = 30, 100


def test_racers_of_every_language_never_overtake(run_dir):
    kinds = list(LANGUAGES) * 2  # two racers of each language
    result = race(kinds, TRACKS, LAPS, run_dir)
    assert [r.steps for r in result.racers] == [TRACKS * LAPS] * len(kinds)
    assert [len(r.visits) for r in result.racers] == [TRACKS * LAPS] * len(kinds)
    assert result.order_holds, "a racer overtook another"
    # The racers really met: every racer had to wait for a lock at least once (racers run one
    # after another would pass the checks above trivially).
    assert all(r.waits > 0 for r in result.racers), [(r.worker, r.waits) for r in result.racers]
    # Every visit of every track was counted under its lock: none lost.
    visits = struct.unpack(f"<{TRACKS}Q", (run_dir / "race.data").read_bytes()[: 8 * TRACKS])
    assert list(visits) == [len(kinds) * LAPS] * TRACKS


def test_the_order_check_sees_an_overtaking():
    # Two racers, three tracks: on track 2, racer 1 got there before racer 0.
    first = [(0, 1), (1, 1), (2, 2)]
    second = [(0, 2), (1, 2), (2, 1)]
    assert not order_holds([first, second], 3)
    assert order_holds([first, [(0, 2), (1, 2), (2, 3)]], 3)
