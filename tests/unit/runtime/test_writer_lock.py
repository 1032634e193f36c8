import asyncio

from services.runtime.writer_lock import WriterLock


async def _write_inline(lock: WriterLock, log: list[str], name: str) -> None:
    """A writer that holds the lock for no loop round, like the embedded mode's inline Core writers."""
    async with lock:
        assert lock.locked()
        log.append(name)


async def test_a_release_lets_every_queued_inline_writer_through_in_one_round() -> None:
    lock, log = WriterLock(), []
    await lock.__aenter__()
    writers = [asyncio.create_task(_write_inline(lock, log, f"w{number}")) for number in range(5)]
    await asyncio.sleep(0)  # every writer is queued now
    assert log == []
    await lock.__aexit__(None, None, None)
    await asyncio.sleep(0)  # one round: asyncio.Lock would have let only w0 through
    assert log == ["w0", "w1", "w2", "w3", "w4"]
    assert not lock.locked()
    await asyncio.gather(*writers)


async def test_a_writer_holding_the_lock_across_rounds_sends_the_others_back_to_wait() -> None:
    lock, log = WriterLock(), []
    release_slow = asyncio.Event()

    async def slow() -> None:
        async with lock:
            log.append("slow in")
            await release_slow.wait()
            log.append("slow out")

    await lock.__aenter__()
    tasks = [asyncio.create_task(slow()), asyncio.create_task(_write_inline(lock, log, "fast"))]
    await asyncio.sleep(0)
    await lock.__aexit__(None, None, None)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert log == ["slow in"]  # "fast" was woken too, found the lock taken and waits again
    release_slow.set()
    await asyncio.gather(*tasks)
    assert log == ["slow in", "slow out", "fast"]


async def test_a_cancelled_waiter_does_not_hold_up_the_others() -> None:
    lock, log = WriterLock(), []
    await lock.__aenter__()
    cancelled = asyncio.create_task(_write_inline(lock, log, "cancelled"))
    waiting = asyncio.create_task(_write_inline(lock, log, "waiting"))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.sleep(0)
    await lock.__aexit__(None, None, None)
    await waiting
    assert log == ["waiting"]
    assert cancelled.cancelled()
    assert not lock.locked()
