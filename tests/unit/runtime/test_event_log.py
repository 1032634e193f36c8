"""One contract for the event log (a chat turn's numbered, resumable events), run against the in-process and
the Redis implementations; then what only one of them promises (memory: purging; Redis: sharing between
processes).
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from services.runtime.backends import (
    Backends,
    EventLog,
    MemoryEventLog,
    RedisEventLog,
    create_backends,
)
from services.runtime.ids import new_id

TTL = 60.0


@dataclass
class Harness:
    """The log under test, plus the two things the implementations do differently: letting time pass (a fake
    clock in memory, real time in Redis) and telling how many readers are blocked waiting."""

    log: EventLog
    pass_time: Callable[[float], Awaitable[None]]
    waiting: Callable[[], Awaitable[int]]


async def _redis_blocked(bundle: Backends) -> int:
    assert bundle.client is not None
    return int((await bundle.client.info("clients"))["blocked_clients"])


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
async def harness(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Harness]:
    if request.param == "memory":
        now = [1000.0]
        memory = MemoryEventLog(clock=lambda: now[0])

        async def advance(seconds: float) -> None:
            now[0] += seconds

        async def memory_waiting() -> int:
            return sum(len(waiters) for waiters in memory._waiters.values())

        yield Harness(memory, advance, memory_waiting)
        return
    bundle = create_backends(redis_url, key_prefix=f"geko-test:{new_id()}:")
    await bundle.ping()
    baseline = await _redis_blocked(bundle)

    async def redis_waiting() -> int:
        # Server-wide, so other clients' blocking reads may show up too: only used to wait before acting.
        return await _redis_blocked(bundle) - baseline

    try:
        yield Harness(bundle.event_log, asyncio.sleep, redis_waiting)
    finally:
        await bundle.cache.delete_prefix("")
        await bundle.aclose()


async def _until_waiting(harness: Harness, count: int) -> None:
    """Lets `count` readers start waiting (bounded): the assertions that follow hold either way; this only
    makes the test exercise the waiting path rather than a read that finds the entries already there."""
    for _ in range(500):
        if await harness.waiting() >= count:
            return
        await asyncio.sleep(0.01)


def _events(*seqs: int) -> list[tuple[int, bytes]]:
    return [(seq, f"event {seq}".encode()) for seq in seqs]


async def test_append_then_read_in_order(harness: Harness) -> None:
    log = harness.log
    await log.append("turn", _events(1, 2), TTL)
    await log.append("turn", [(3, b"\x00binary\xff")], TTL)

    assert await log.read("turn", 0) == [*_events(1, 2), (3, b"\x00binary\xff")]
    assert await log.last_seq("turn") == 3


async def test_read_returns_only_entries_after_the_given_seq(harness: Harness) -> None:
    await harness.log.append("turn", _events(1, 2, 5, 9), TTL)

    assert await harness.log.read("turn", 2) == _events(5, 9)
    assert await harness.log.read("turn", 3) == _events(5, 9)
    assert await harness.log.read("turn", 5) == _events(9)
    assert await harness.log.read("turn", 9) == []


async def test_read_returns_at_most_limit_oldest_first(harness: Harness) -> None:
    await harness.log.append("turn", _events(*range(1, 11)), TTL)

    assert await harness.log.read("turn", 0, limit=3) == _events(1, 2, 3)
    assert await harness.log.read("turn", 3, limit=3, wait_seconds=1) == _events(4, 5, 6)


async def test_unknown_stream_reads_empty_with_last_seq_zero(harness: Harness) -> None:
    assert await harness.log.read("never-written", 0) == []
    assert await harness.log.last_seq("never-written") == 0


async def test_waiting_read_times_out_empty(harness: Harness) -> None:
    await harness.log.append("turn", _events(1), TTL)

    assert await harness.log.read("turn", 1, wait_seconds=0.1) == []
    assert await harness.log.read("never-written", 0, wait_seconds=0.1) == []


async def test_waiting_read_returns_what_is_already_there(harness: Harness) -> None:
    await harness.log.append("turn", _events(1, 2), TTL)

    assert await harness.log.read("turn", 1, wait_seconds=30) == _events(2)


async def test_waiting_reader_gets_the_next_append(harness: Harness) -> None:
    await harness.log.append("turn", _events(1), TTL)
    reader = asyncio.create_task(harness.log.read("turn", 1, wait_seconds=30))
    fresh_reader = asyncio.create_task(harness.log.read("new-turn", 0, wait_seconds=30))
    await _until_waiting(harness, 2)

    await harness.log.append("turn", _events(2, 3), TTL)
    await harness.log.append("new-turn", _events(1), TTL)

    assert await asyncio.wait_for(reader, timeout=10) == _events(2, 3)
    assert await asyncio.wait_for(fresh_reader, timeout=10) == _events(1)


async def test_one_append_wakes_many_waiting_readers(harness: Harness) -> None:
    # More readers than redis-py's default pool of 100 connections: each blocked read holds one.
    readers = [asyncio.create_task(harness.log.read("turn", 0, wait_seconds=30)) for _ in range(150)]
    await _until_waiting(harness, len(readers))

    await harness.log.append("turn", _events(1), TTL)
    results = await asyncio.wait_for(asyncio.gather(*readers), timeout=20)

    assert results == [_events(1)] * len(readers)


async def test_append_to_another_stream_does_not_wake_a_reader(harness: Harness) -> None:
    reader_a = asyncio.create_task(harness.log.read("turn-a", 0, wait_seconds=0.5))
    reader_b = asyncio.create_task(harness.log.read("turn-b", 0, wait_seconds=30))
    await _until_waiting(harness, 2)

    await harness.log.append("turn-b", _events(1), TTL)

    assert await asyncio.wait_for(reader_b, timeout=10) == _events(1)
    assert await asyncio.wait_for(reader_a, timeout=10) == []
    assert await harness.log.last_seq("turn-a") == 0


async def test_cancelled_waiting_readers_leave_the_log_usable(harness: Harness) -> None:
    readers = [asyncio.create_task(harness.log.read("turn", 0, wait_seconds=30)) for _ in range(20)]
    await _until_waiting(harness, len(readers))
    for reader in readers:
        reader.cancel()
    outcomes = await asyncio.gather(*readers, return_exceptions=True)

    await harness.log.append("turn", _events(1), TTL)

    assert all(isinstance(outcome, asyncio.CancelledError) for outcome in outcomes)
    assert await harness.log.read("turn", 0, wait_seconds=5) == _events(1)
    assert await harness.log.last_seq("turn") == 1


@pytest.mark.parametrize(
    "rejected",
    [
        pytest.param(_events(3), id="equal-to-last"),
        pytest.param(_events(2), id="below-last"),
        pytest.param(_events(2, 7), id="batch-starting-below-last"),
        pytest.param(_events(5, 4), id="decreasing-within-batch"),
        pytest.param(_events(6, 6), id="repeated-within-batch"),
    ],
)
async def test_non_increasing_seq_is_rejected_and_nothing_appended(
    harness: Harness, rejected: list[tuple[int, bytes]]
) -> None:
    await harness.log.append("turn", _events(1, 3), TTL)

    with pytest.raises(ValueError, match="seq"):
        await harness.log.append("turn", rejected, TTL)

    assert await harness.log.read("turn", 0) == _events(1, 3)
    assert await harness.log.last_seq("turn") == 3


async def test_seq_must_be_positive(harness: Harness) -> None:
    for bad in ([(0, b"x")], [(-1, b"x")]):
        with pytest.raises(ValueError, match="seq"):
            await harness.log.append("turn", bad, TTL)

    assert await harness.log.last_seq("turn") == 0


async def test_stream_expires_after_its_ttl(harness: Harness) -> None:
    await harness.log.append("short", _events(1, 2), 0.2)
    await harness.log.append("long", _events(1), TTL)

    await harness.pass_time(0.3)
    for _ in range(100):
        if await harness.log.last_seq("short") == 0:
            break
        await asyncio.sleep(0.05)

    assert await harness.log.last_seq("short") == 0
    assert await harness.log.read("short", 0) == []
    assert await harness.log.read("short", 0, wait_seconds=0.05) == []
    assert await harness.log.read("long", 0) == _events(1)
    # Gone means unknown: its numbering starts again.
    await harness.log.append("short", _events(1), TTL)
    assert await harness.log.read("short", 0) == _events(1)


# ---- in-process only -------------------------------------------------------------------------------------


def _memory_log() -> tuple[MemoryEventLog, list[float]]:
    now = [1000.0]
    return MemoryEventLog(clock=lambda: now[0], purge_interval=10), now


async def test_memory_each_append_restarts_the_expiry() -> None:
    log, now = _memory_log()
    await log.append("turn", _events(1), 10)
    now[0] += 8
    await log.append("turn", _events(2), 10)
    now[0] += 8

    assert await log.read("turn", 0) == _events(1, 2)
    now[0] += 2
    assert await log.last_seq("turn") == 0


async def test_memory_forgets_expired_streams_nobody_touches_again() -> None:
    log, now = _memory_log()
    for n in range(10_000):
        await log.append(f"turn-{n}", _events(1, 2), 5)
    assert len(log._streams) == 10_000

    now[0] += 11
    await log.append("latest", _events(1), 5)

    assert list(log._streams) == ["latest"]


async def test_memory_keeps_no_waiter_after_reads_end() -> None:
    log, _ = _memory_log()
    timed_out = asyncio.create_task(log.read("quiet", 0, wait_seconds=0.05))
    woken = asyncio.create_task(log.read("busy", 0, wait_seconds=30))
    cancelled = asyncio.create_task(log.read("abandoned", 0, wait_seconds=30))
    while sum(len(waiters) for waiters in log._waiters.values()) < 3:
        await asyncio.sleep(0.001)

    await log.append("busy", _events(1), TTL)
    cancelled.cancel()

    assert await timed_out == []
    assert await woken == _events(1)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert log._waiters == {}


async def test_memory_read_checks_its_arguments() -> None:
    log, _ = _memory_log()
    with pytest.raises(ValueError, match="limit"):
        await log.read("turn", 0, limit=0)
    with pytest.raises(ValueError, match="wait_seconds"):
        await log.read("turn", 0, wait_seconds=-1)
    with pytest.raises(ValueError, match="ttl_seconds"):
        await log.append("turn", _events(1), 0)


# ---- Redis only ------------------------------------------------------------------------------------------


@pytest.mark.integration
async def test_redis_log_is_shared_between_processes(redis_url: str) -> None:
    prefix = f"geko-test:{new_id()}:"
    writer, reader = (
        create_backends(redis_url, key_prefix=prefix),
        create_backends(redis_url, key_prefix=prefix),
    )
    try:
        assert isinstance(writer.event_log, RedisEventLog)
        await writer.event_log.append("turn", _events(1, 2), TTL)
        waiting = asyncio.create_task(reader.event_log.read("turn", 2, wait_seconds=30))

        assert await reader.event_log.read("turn", 0) == _events(1, 2)
        await writer.event_log.append("turn", _events(3), TTL)
        assert await asyncio.wait_for(waiting, timeout=10) == _events(3)
        assert await reader.event_log.last_seq("turn") == 3
    finally:
        await writer.cache.delete_prefix("")
        await writer.aclose()
        await reader.aclose()


def test_embedded_backends_carry_a_memory_event_log() -> None:
    assert isinstance(create_backends(None).event_log, MemoryEventLog)
