"""One contract for the cache, rate limiter and pub/sub, run against the in-process and the Redis backends."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.runtime.backends import Backends, MemoryRateLimiter, create_backends
from services.runtime.ids import new_id


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
async def backends(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Backends]:
    if request.param == "memory":
        bundle = create_backends(None)
    else:
        bundle = create_backends(redis_url, key_prefix=f"geko-test:{new_id()}:")
    await bundle.ping()
    try:
        yield bundle
    finally:
        await bundle.cache.delete_prefix("")
        await bundle.aclose()


async def test_cache_set_get_delete(backends: Backends) -> None:
    cache = backends.cache
    await cache.set("a", b"1")
    await cache.set("b", b"\x00binary\xff")

    assert await cache.get("a") == b"1"
    assert await cache.get("b") == b"\x00binary\xff"
    assert await cache.get("missing") is None
    assert await cache.delete("a", "missing") == 1
    assert await cache.get("a") is None


async def test_cache_entries_expire(backends: Backends) -> None:
    await backends.cache.set("short", b"x", ttl_seconds=0.05)
    await backends.cache.set("long", b"y", ttl_seconds=60)
    await asyncio.sleep(0.2)

    assert await backends.cache.get("short") is None
    assert await backends.cache.get("long") == b"y"


async def test_delete_prefix_removes_only_that_prefix(backends: Backends) -> None:
    cache = backends.cache
    for key in ("perm:ws1:u1", "perm:ws1:u2", "perm:ws2:u1", "perm:ws1*weird"):
        await cache.set(key, b"1")

    assert await cache.delete_prefix("perm:ws1:") == 2
    assert await cache.get("perm:ws1:u1") is None
    assert await cache.get("perm:ws2:u1") == b"1"
    assert await cache.get("perm:ws1*weird") == b"1"


async def test_incr_counts_and_keeps_first_expiry(backends: Backends) -> None:
    cache = backends.cache
    assert await cache.incr("n") == 1
    assert await cache.incr("n", 5) == 6
    assert await cache.get("n") == b"6"

    assert await cache.incr("t", ttl_seconds=0.05) == 1
    await asyncio.sleep(0.2)
    assert await cache.incr("t", ttl_seconds=0.05) == 1


async def test_rate_limiter_allows_limit_then_denies_with_retry_after(backends: Backends) -> None:
    limiter = backends.rate_limiter
    decisions = [await limiter.hit("login:1.2.3.4", limit=3, window_seconds=60) for _ in range(4)]
    other = await limiter.hit("login:5.6.7.8", limit=3, window_seconds=60)

    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert decisions[0].retry_after_seconds == 0
    assert 1 <= decisions[3].retry_after_seconds <= 60
    assert other.allowed
    assert other.remaining == 2


async def test_rate_limiter_window_resets(backends: Backends) -> None:
    limiter = backends.rate_limiter
    assert (await limiter.hit("k", limit=1, window_seconds=1)).allowed
    assert not (await limiter.hit("k", limit=1, window_seconds=1)).allowed
    await asyncio.sleep(1.1)

    assert (await limiter.hit("k", limit=1, window_seconds=1)).allowed


async def test_rate_limiter_is_atomic_under_concurrency(backends: Backends) -> None:
    decisions = await asyncio.gather(
        *(backends.rate_limiter.hit("burst", limit=10, window_seconds=60) for _ in range(25))
    )

    assert sum(d.allowed for d in decisions) == 10


async def test_pubsub_delivers_to_every_subscriber_in_order(backends: Backends) -> None:
    async with (
        backends.pubsub.subscribe("chat:turn1") as first,
        backends.pubsub.subscribe("chat:turn1") as second,
        backends.pubsub.subscribe("chat:other") as unrelated,
    ):
        for data in (b"a", b"b", b"c"):
            await backends.pubsub.publish("chat:turn1", data)
        await backends.pubsub.publish("chat:other", b"z")

        got_first = [await anext(first) for _ in range(3)]
        got_second = [await anext(second) for _ in range(3)]
        got_unrelated = await anext(unrelated)

    assert got_first == got_second == [b"a", b"b", b"c"]
    assert got_unrelated == b"z"


async def test_subscription_iteration_ends_when_closed_from_another_task(backends: Backends) -> None:
    subscription = backends.pubsub.subscribe("ch")
    received: list[bytes] = []

    async def consume() -> None:
        async for data in subscription:
            received.append(data)

    async with subscription:
        consumer = asyncio.create_task(consume())
        await backends.pubsub.publish("ch", b"one")
        while not received:
            await asyncio.sleep(0.01)
        await subscription.aclose()
        await asyncio.wait_for(consumer, timeout=5)

    assert received == [b"one"]


async def test_cancelled_consumer_unsubscribes(backends: Backends) -> None:
    subscription = backends.pubsub.subscribe("cancel-me")

    async def consume() -> None:
        async for _ in subscription:
            pass

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    await backends.pubsub.publish("cancel-me", b"after")

    with pytest.raises(StopAsyncIteration):
        await anext(subscription)


async def test_backends_aclose_ends_open_subscriptions() -> None:
    bundle = create_backends(None)
    subscription = bundle.pubsub.subscribe("x")
    await subscription.__aenter__()
    consumer = asyncio.create_task(anext(subscription))
    await asyncio.sleep(0)
    await bundle.aclose()

    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(consumer, timeout=5)


async def test_memory_rate_limiter_window_follows_its_clock() -> None:
    now = [1000.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    await limiter.hit("k", limit=1, window_seconds=30)
    denied = await limiter.hit("k", limit=1, window_seconds=30)
    now[0] += 20
    still_denied = await limiter.hit("k", limit=1, window_seconds=30)
    now[0] += 10
    allowed = await limiter.hit("k", limit=1, window_seconds=30)

    assert (denied.allowed, denied.retry_after_seconds) == (False, 30)
    assert (still_denied.allowed, still_denied.retry_after_seconds) == (False, 10)
    assert allowed.allowed
