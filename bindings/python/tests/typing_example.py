"""Type-checked by test_typing.py with mypy --strict: the API as a user writes it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import List, Optional

from pylocksfile import Held, Holder, LockGuard, LocksFile, LockTimeoutError, Mode, Scope, pylocksfile


def use(path: str) -> Optional[Mode]:
    lf = LocksFile(path, scope=Scope.OPEN_FILE)
    with lf.write(1, 3):
        pass
    taken: bool = lf.acquire(0, write=False, timeout=1.5)
    held: List[Held] = lf.held()
    holders: List[Holder] = lf.holders(0, None)
    try:
        with lf.read(range(5, 8), timeout=0.1):
            pass
    except LockTimeoutError:
        pass
    with lf.write(9, timeout=timedelta(seconds=2)) as guard:
        same: LockGuard = guard
        del same
    with LockGuard(lf, 10, write=True, timeout=timedelta(milliseconds=5)):
        pass
    closed: bool = lf.closed
    del closed
    seed = pylocksfile(path, verbose=False, l_id="typed")
    ok: bool = seed.acquire(writeLock=True, lock_n=(1, 3), blocking=False)
    seed.release()
    del taken, held, holders, ok
    return lf.mode_of(0)


async def use_async(lf: LocksFile) -> None:
    async with lf.write(2):
        pass
    got: bool = await lf.acquire_async(3, timeout=1.0)
    got = await lf.acquire_async(4, timeout=timedelta(seconds=1))
    del got


if __name__ == "__main__":
    use("/tmp/typing.lock")
    asyncio.run(use_async(LocksFile("/tmp/typing.lock")))
