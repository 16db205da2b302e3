"""A foreign peer: a process using only Python's standard library, ``fcntl.lockf`` (classic POSIX
byte-range locks, owned by the process), that speaks the workers' protocol (tests/README.md) for the
commands lockf can do: open, close, acquire (block or try), release, release-all, pid, quit.
"""

import errno
import fcntl
import os
import sys


def span(text):
    """``3``, ``1..4`` or ``5..`` as (start, length); length 0 reaches every index from start."""
    if ".." not in text:
        return int(text), 1
    start, end = text.split("..")
    return int(start), (int(end) - int(start) if end else 0)


def main():
    fd = None
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        try:
            if words[0] == "pid":
                reply = str(os.getpid())
            elif words[0] == "open":
                fd = os.open(words[1], os.O_RDWR | os.O_CREAT, 0o644)
                reply = "ok"
            elif words[0] == "close":
                os.close(fd)  # drops every lock of this process on the file
                fd, reply = None, "ok"
            elif words[0] == "acquire" and words[3] in ("block", "try"):
                start, length = span(words[2])
                operation = fcntl.LOCK_EX if words[1] == "write" else fcntl.LOCK_SH
                try:
                    fcntl.lockf(fd, operation | (fcntl.LOCK_NB if words[3] == "try" else 0), length, start)
                    reply = "ok"
                except (BlockingIOError, PermissionError):
                    reply = "busy"
            elif words[0] == "release":
                start, length = span(words[1])
                fcntl.lockf(fd, fcntl.LOCK_UN, length, start)
                reply = "ok"
            elif words[0] == "release-all":
                fcntl.lockf(fd, fcntl.LOCK_UN, 0, 0)
                reply = "ok"
            else:
                reply = f"err Unsupported: lockf peer cannot {' '.join(words)!r}"
        except OSError as error:
            kind = "Deadlock" if error.errno == errno.EDEADLK else "Io"
            reply = f"err {kind}: {error}"
        except (OverflowError, ValueError, IndexError) as error:
            reply = f"err Protocol: {error}"
        print(reply, flush=True)


if __name__ == "__main__":
    main()
