"""The seed's hand-over-hand race with processes of several languages on one lock file.

Each racer steps through a ring of ``tracks`` locks, taking the next track's write lock before it
lets go of the one it holds, for ``laps`` laps. Nobody can overtake, so every track must see the
racers pass in one and the same order (pylocksfile 0.0.6's order check). Racers count each visit of
a track in a shared data file while they hold its lock, and log (track, visit number) per step.

``python3 tests/cross/race.py [RACERS...] [--tracks N] [--laps N]`` is the demo (``cargo make demo``):
progress bars while it runs, a summary table at the end, with the lock operations per second of each
racer and of all together. The cross-language tests reuse ``race``.
"""

from __future__ import annotations

import argparse
import shutil
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workers import LANGUAGES, RUN_DIR, Worker, start_all  # noqa: E402


@dataclass
class Racer:
    worker: Worker
    steps: int = 0
    waits: int = 0
    millis: int = 0
    visits: List[tuple] = field(default_factory=list)


@dataclass
class Result:
    racers: List[Racer]
    tracks: int
    seconds: float

    @property
    def order_holds(self) -> bool:
        return order_holds([r.visits for r in self.racers], self.tracks)


def order_holds(logs: Sequence[Sequence[tuple]], tracks: int) -> bool:
    """No overtaking: ordered by visit number, every track sees the racers in the same order."""

    def order_at(track: int) -> List[int]:
        visits = sorted((visit, racer) for racer, log in enumerate(logs) for t, visit in log if t == track)
        return [racer for _, racer in visits]

    reference = order_at(0)
    return all(order_at(track) == reference for track in range(1, tracks))


def race(
    kinds: Sequence[str],
    tracks: int,
    laps: int,
    where: Path,
    on_progress: Optional[Callable[[List[int], int], None]] = None,
) -> Result:
    """Runs one race of workers of the given kinds on a lock file in ``where``."""
    if not kinds or tracks <= len(kinds) or laps < 1:
        raise ValueError("need at least one racer, more tracks than racers, and a lap")
    where.mkdir(parents=True, exist_ok=True)
    lock, data = where / "race.lock", where / "race.data"
    data.write_bytes(bytes(8 * (tracks + len(kinds))))
    racers = [Racer(w) for w in start_all(kinds)]
    try:
        for racer in racers:
            assert racer.worker.ask(f"open {lock} open-file") == "ok"
        started = time.monotonic()
        for number, racer in enumerate(racers):  # all at once: the slow starters are already up
            racer.worker.send(f"race {data} {number} {tracks} {laps} {where / f'visits-{number}.log'}")
        total, outstanding = tracks * laps, set(range(len(racers)))
        with data.open("rb") as progress:
            while outstanding:
                if on_progress:
                    progress.seek(8 * tracks)
                    on_progress(list(struct.unpack(f"<{len(racers)}Q", progress.read(8 * len(racers)))), total)
                for number in sorted(outstanding):
                    reply = racers[number].worker.poll(0.1 / len(outstanding))
                    if reply is None:
                        continue
                    words = reply.split()
                    if words[0] != "ok":
                        raise AssertionError(f"racer {racers[number].worker} failed: {reply}")
                    racer = racers[number]
                    racer.steps, racer.waits, racer.millis = map(int, words[1:4])
                    outstanding.discard(number)
        seconds = time.monotonic() - started
        if on_progress:
            on_progress([r.steps for r in racers], total)
        for number, racer in enumerate(racers):
            text = (where / f"visits-{number}.log").read_text()
            racer.visits = [tuple(map(int, line.split())) for line in text.splitlines()]
        return Result(racers, tracks, seconds)
    finally:
        for racer in racers:
            racer.worker.stop()


class Progress:
    """Progress bars, one line a racer; on a terminal they are redrawn in place."""

    def __init__(self, kinds: Sequence[str], live: bool) -> None:
        self.kinds, self.live, self.drawn, self.last, self.shown = kinds, live, False, 0.0, None

    def __call__(self, steps: List[int], total: int) -> None:
        now = time.monotonic()
        finished = all(s >= total for s in steps)
        if steps == self.shown or (not self.live and not finished and now - self.last < 1.0):
            return
        self.last, self.shown = now, steps
        lines = []
        for number, (kind, done) in enumerate(zip(self.kinds, steps)):
            bar = "#" * (done * 40 // total)
            lines.append(f"  {kind:>6} #{number} [{bar:<40}] {done:>6}/{total}")
        if self.live and self.drawn:
            sys.stdout.write(f"\x1b[{len(lines)}A")
        sys.stdout.write("".join(line + ("\x1b[K\n" if self.live else "\n") for line in lines))
        if not self.live:
            sys.stdout.write("\n")
        sys.stdout.flush()
        self.drawn = True


def operations(racer: Racer) -> int:
    """Lock operations of a racer: each step takes one lock and lets go of one (an acquire that had
    to wait counts once)."""
    return 2 * racer.steps


def per_second(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}" if seconds > 0 else "-"


def summary(result: Result) -> str:
    lines = [f"{'racer':<6} {'language':<9} {'pid':>8} {'steps':>7} {'waits':>7} {'time':>9} {'lock ops/s':>11}"]
    for number, racer in enumerate(result.racers):
        lines.append(
            f"{'#' + str(number):<6} {racer.worker.kind:<9} {racer.worker.pid:>8} {racer.steps:>7} "
            f"{racer.waits:>7} {racer.millis:>6} ms {per_second(operations(racer), racer.millis / 1000):>11}"
        )
    verdict = "PASS" if result.order_holds else "FAIL"
    lines.append(f"order check: {verdict} (all {result.tracks} locks saw the racers pass in one order)")
    lines.append(f"race time: {result.seconds:.2f} s")
    total = sum(operations(racer) for racer in result.racers)
    lines.append(f"lock operations: {total:,} in {result.seconds:.2f} s, {per_second(total, result.seconds)} per second "
                 "in all (an operation: one acquire or one release)")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("racers", nargs="*", metavar="LANGUAGE",
                        help=f"one racer each, in this order: {', '.join(LANGUAGES)} (default: one of each)")
    parser.add_argument("--tracks", type=int, default=40, help="locks in the ring (default 40)")
    parser.add_argument("--laps", type=int, default=3000, help="laps each racer makes (default 3000)")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv[1:] if argv[:1] == ["--"] else argv)  # cargo make passes its "--" on
    args.racers = args.racers or list(LANGUAGES)
    unknown = sorted(set(args.racers) - set(LANGUAGES))
    if unknown:
        parser.error(f"unknown language {unknown[0]!r} (choose from {', '.join(LANGUAGES)})")
    where = RUN_DIR / "demo"
    shutil.rmtree(where, ignore_errors=True)
    print(f"{len(args.racers)} processes ({', '.join(args.racers)}) race hand over hand through "
          f"{args.tracks} locks in a ring, {args.laps} laps each, on {where / 'race.lock'}")
    print("starting the processes...", flush=True)
    result = race(args.racers, args.tracks, args.laps, where, Progress(args.racers, sys.stdout.isatty()))
    print()
    print(summary(result))
    shutil.rmtree(where, ignore_errors=True)
    return 0 if result.order_holds else 1


if __name__ == "__main__":
    sys.exit(main())
