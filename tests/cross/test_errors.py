"""One text per mistake: the same bad request made in Rust, Python, Kotlin and Swift is refused
with the same error kind and the same words (validation and wording live once, in Rust)."""

from __future__ import annotations

from workers import LANGUAGES, start_all

#: (request, the reply every language gives). A range `3..3` is start 3, count 0.
MISTAKES = [
    ("acquire read 3..3 try", "err InvalidRange: invalid lock range (start 3, count 0): count must be at least 1"),
    ("acquire write 7..7 block", "err InvalidRange: invalid lock range (start 7, count 0): count must be at least 1"),
    ("release 5..5", "err InvalidRange: invalid lock range (start 5, count 0): count must be at least 1"),
]


def test_every_language_words_a_bad_range_the_same(run_dir):
    workers = start_all(LANGUAGES)
    try:
        for worker in workers:
            assert worker.ask(f"open {run_dir / 'errors.lock'} open-file") == "ok"
        for request, expected in MISTAKES:
            replies = {worker.kind: worker.ask(request) for worker in workers}
            assert replies == {kind: expected for kind in LANGUAGES}, request
    finally:
        for worker in workers:
            worker.stop()
