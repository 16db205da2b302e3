"""Nothing lost: processes of all four languages increment counters in a shared data file, each
increment under the write lock of that counter's index, while readers of all four languages check
every counter under read locks. At the end every total is exact and no reader saw a torn counter."""

from __future__ import annotations

import struct

from workers import LANGUAGES, KernelWaits, start_all, wait_all

COUNTERS = 8
INCREMENTS = 4000  # per writer, round-robin over the counters
AUDITS = 400  # per reader, each a look at every counter under one read lock


def counters(path, count):
    return list(struct.unpack(f"<{2 * count}Q", path.read_bytes()))


def test_every_increment_counts_and_no_reader_sees_a_torn_counter(run_dir):
    data = run_dir / "counters.data"
    data.write_bytes(bytes(16 * COUNTERS))
    writers = start_all(LANGUAGES)
    readers = start_all(LANGUAGES)
    try:
        for worker in writers + readers:
            assert worker.ask(f"open {run_dir / 'locks'} open-file") == "ok"
        with KernelWaits(run_dir / "locks") as waits:
            for worker in writers:
                worker.send(f"count {data} 0..{COUNTERS} {INCREMENTS}")
            for worker in readers:
                worker.send(f"audit {data} 0..{COUNTERS} {AUDITS}")
            replies = wait_all(writers + readers, timeout=300)
        assert waits.seen > 0, "no process ever waited for another: the check below would prove nothing"
        assert replies == [f"ok {INCREMENTS}"] * len(writers) + [f"ok {AUDITS}"] * len(readers), list(
            zip(writers + readers, replies)
        )
    finally:
        for worker in writers + readers:
            worker.stop()
    expected = len(writers) * INCREMENTS // COUNTERS
    assert counters(data, COUNTERS) == [expected] * (2 * COUNTERS)


def test_every_reader_reports_a_torn_counter(run_dir):
    """The check above can fail: a counter whose copies differ is reported by every language."""
    data = run_dir / "counters.data"
    data.write_bytes(bytes(16 * 3) + struct.pack("<QQ", 5, 4))
    readers = start_all(LANGUAGES)
    try:
        for worker in readers:
            assert worker.ask(f"open {run_dir / 'locks'} open-file") == "ok"
            assert worker.ask(f"audit {data} 0..4 1") == "torn 3 5 4", worker
    finally:
        for worker in readers:
            worker.stop()
