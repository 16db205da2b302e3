"""asyncio: waiting never blocks the event loop; cancellation leaves nothing held."""

from __future__ import annotations

import asyncio

import pytest
from conftest import wait_until, waiting_requests

from pylocksfile import LocksFile, LockTimeoutError


def test_async_with_waits_without_blocking_the_loop(lock_path, workers):
    holder = workers()
    assert holder.ask("acquire write 3 block") == "ok"
    lf = LocksFile(lock_path)

    async def main() -> int:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        async def release_soon() -> None:
            # Released once the acquire waits in the kernel and the loop has ticked meanwhile (were
            # the loop blocked, this would never run and the test would time out).
            while waiting_requests(lock_path) == 0 or ticks < 10:
                await asyncio.sleep(0.005)
            await asyncio.get_running_loop().run_in_executor(None, holder.ask, "release 3")

        tick_task = asyncio.create_task(ticker())
        release_task = asyncio.create_task(release_soon())
        async with lf.write(3):
            await release_task  # its reply read: the worker answers only us from here on
            assert not await asyncio.get_running_loop().run_in_executor(None, holder.can_take, "read", "3")
        stop.set()
        await tick_task
        return ticks

    ticks = asyncio.run(main())
    assert ticks >= 10, f"the loop ran only {ticks} ticks while waiting"
    assert holder.can_take("write", "3")


def test_cancelling_a_waiter_leaves_nothing_held(lock_path, workers):
    holder = workers()
    assert holder.ask("acquire write 4 block") == "ok"
    lf = LocksFile(lock_path)

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(lf.acquire_async(4, write=True), 0.2)
        assert await lf.acquire_async(4, write=True, timeout=0.2) is False
        with pytest.raises(LockTimeoutError):
            async with lf.read(4, timeout=0.1):
                pass

    asyncio.run(main())
    # The cancelled waits stop within their slice: no request of ours is queued any more.
    # (Cancelled before the holder lets go: a slice that ends now cannot have taken the lock.)
    wait_until("the cancelled waits have left the kernel", lambda: waiting_requests(lock_path) == 0)
    assert lf.held() == []
    assert holder.ask("release 4") == "ok"
    assert holder.can_take("write", "4"), "a cancelled wait took the lock after all"


def test_a_free_lock_is_taken_without_a_thread(lock_path):
    lf = LocksFile(lock_path)

    async def main() -> bool:
        return await lf.acquire_async(0, 10, write=True)

    assert asyncio.run(main()) is True
    assert lf.held()[0].count == 10
