"""Cache, rate limiter and pub/sub behind one interface: Redis when REDIS_URL is set, in-process otherwise.

The embedded mode (one process) needs no Redis; the distributed mode shares state between replicas through it.
Both implementations pass the same contract tests (tests/unit/runtime/test_backends.py).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

import redis.asyncio as redis
from redis.exceptions import RedisError

from services.runtime.errors import UpstreamUnavailable

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one hit: whether it may proceed, hits left in the window, and when to retry if not."""

    allowed: bool
    remaining: int
    retry_after_seconds: int


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None: ...

    async def delete(self, *keys: str) -> int: ...

    async def delete_prefix(self, prefix: str) -> int: ...

    async def incr(self, key: str, amount: int = 1, ttl_seconds: float | None = None) -> int:
        """Adds `amount` and returns the new value; `ttl_seconds` applies when the key has no expiry yet."""
        ...


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        """Counts one hit in a fixed window that starts at the key's first hit."""
        ...


class Subscription(Protocol):
    """Messages of one channel. Use `async with` to be subscribed before the block runs (no missed messages);
    iteration ends after `aclose()` (from any task) or when the backend closes."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def __anext__(self) -> bytes: ...

    async def aclose(self) -> None: ...


class PubSub(Protocol):
    async def publish(self, channel: str, data: bytes) -> None: ...

    def subscribe(self, channel: str) -> Subscription: ...

    async def aclose(self) -> None:
        """Ends every open subscription of this process."""
        ...


def _retry_after(ttl_seconds: float) -> int:
    return max(1, math.ceil(ttl_seconds))


def _decision(count: int, limit: int, ttl_seconds: float) -> RateDecision:
    if count <= limit:
        return RateDecision(allowed=True, remaining=limit - count, retry_after_seconds=0)
    return RateDecision(allowed=False, remaining=0, retry_after_seconds=_retry_after(ttl_seconds))


_CLOSED = object()


class _QueueSubscription:
    """Shared iterator logic: backend-specific `_open`/`_close` feed a queue that `__anext__` reads."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._opened = False
        self._closed = False

    async def _open(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    def _push(self, item: object) -> None:
        self._queue.put_nowait(item)

    async def __aenter__(self) -> Self:
        await self._ensure_open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Self:
        return self

    async def _ensure_open(self) -> None:
        if not self._opened and not self._closed:
            self._opened = True
            await self._open()

    async def __anext__(self) -> bytes:
        try:
            await self._ensure_open()
            item = _CLOSED if self._closed and self._queue.empty() else await self._queue.get()
        except asyncio.CancelledError:
            await self.aclose()
            raise
        if item is _CLOSED:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            await self.aclose()
            raise item
        assert isinstance(item, bytes)
        return item

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._push(_CLOSED)
        if self._opened:
            await self._close()


# ---- in-process ------------------------------------------------------------------------------------------


class MemoryCache:
    """A dict with per-key expiry (monotonic clock); expired keys go on read and in periodic sweeps."""

    _SWEEP_EVERY = 1024

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._writes = 0

    def _live(self, key: str) -> tuple[bytes, float | None] | None:
        entry = self._data.get(key)
        if entry is not None and entry[1] is not None and entry[1] <= self._clock():
            del self._data[key]
            return None
        return entry

    def _store(self, key: str, value: bytes, expires_at: float | None) -> None:
        self._data[key] = (value, expires_at)
        self._writes += 1
        if self._writes % self._SWEEP_EVERY == 0:
            now = self._clock()
            for stale in [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]:
                del self._data[stale]

    def _expiry(self, ttl_seconds: float | None) -> float | None:
        return None if ttl_seconds is None else self._clock() + ttl_seconds

    async def get(self, key: str) -> bytes | None:
        entry = self._live(key)
        return None if entry is None else entry[0]

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        self._store(key, bytes(value), self._expiry(ttl_seconds))

    async def delete(self, *keys: str) -> int:
        deleted = 0
        for key in keys:
            if self._live(key) is not None:
                del self._data[key]
                deleted += 1
        return deleted

    async def delete_prefix(self, prefix: str) -> int:
        doomed = [key for key in self._data if key.startswith(prefix) and self._live(key) is not None]
        for key in doomed:
            del self._data[key]
        return len(doomed)

    def incr_with_ttl(self, key: str, amount: int, ttl_seconds: float | None) -> tuple[int, float | None]:
        """Adds `amount`; returns the new value and the seconds left before the key expires (None: never)."""
        entry = self._live(key)
        value = amount + (int(entry[0]) if entry is not None else 0)
        expires_at = entry[1] if entry is not None else None
        if expires_at is None:
            expires_at = self._expiry(ttl_seconds)
        self._store(key, str(value).encode(), expires_at)
        return value, None if expires_at is None else expires_at - self._clock()

    async def incr(self, key: str, amount: int = 1, ttl_seconds: float | None = None) -> int:
        return self.incr_with_ttl(key, amount, ttl_seconds)[0]


class MemoryRateLimiter:
    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._counters = MemoryCache(clock)

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        count, ttl = self._counters.incr_with_ttl(key, 1, window_seconds)
        return _decision(count, limit, window_seconds if ttl is None else ttl)


class _MemorySubscription(_QueueSubscription):
    def __init__(self, hub: MemoryPubSub, channel: str) -> None:
        super().__init__()
        self._hub = hub
        self._channel = channel

    async def _open(self) -> None:
        self._hub._subscribers.setdefault(self._channel, set()).add(self)

    async def _close(self) -> None:
        subscribers = self._hub._subscribers.get(self._channel)
        if subscribers is not None:
            subscribers.discard(self)
            if not subscribers:
                del self._hub._subscribers[self._channel]


class MemoryPubSub:
    """Fan-out to the asyncio queues of this process's subscribers."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[_MemorySubscription]] = {}

    async def publish(self, channel: str, data: bytes) -> None:
        for subscription in tuple(self._subscribers.get(channel, ())):
            subscription._push(bytes(data))

    def subscribe(self, channel: str) -> Subscription:
        return _MemorySubscription(self, channel)

    async def aclose(self) -> None:
        for subscriptions in tuple(self._subscribers.values()):
            for subscription in tuple(subscriptions):
                await subscription.aclose()


# ---- Redis -----------------------------------------------------------------------------------------------

# INCRBY, then start the expiry if the key has none; returns {value, pttl} in one atomic step.
_INCR_SCRIPT = """
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 and tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {value, ttl}
"""


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def _millis(ttl_seconds: float | None) -> int:
    return 0 if ttl_seconds is None else max(1, int(ttl_seconds * 1000))


class _RedisBase:
    def __init__(self, client: redis.Redis, key_prefix: str) -> None:
        self._client = client
        self._prefix = key_prefix
        self._incr_script = client.register_script(_INCR_SCRIPT)

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def _incr_with_ttl(self, key: str, amount: int, ttl_seconds: float | None) -> tuple[int, int]:
        value, ttl_ms = await self._incr_script(keys=[self._key(key)], args=[amount, _millis(ttl_seconds)])
        return int(value), int(ttl_ms)


class RedisCache(_RedisBase):
    async def get(self, key: str) -> bytes | None:
        value = await self._client.get(self._key(key))
        return value.encode() if isinstance(value, str) else value

    async def set(self, key: str, value: bytes, ttl_seconds: float | None = None) -> None:
        await self._client.set(self._key(key), value, px=_millis(ttl_seconds) or None)

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._client.delete(*(self._key(key) for key in keys)))

    async def delete_prefix(self, prefix: str) -> int:
        """SCAN + UNLINK in batches: never KEYS, which blocks Redis on a large keyspace."""
        deleted = 0
        batch: list[bytes] = []
        async for key in self._client.scan_iter(match=_glob_escape(self._key(prefix)) + "*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(await self._client.unlink(*batch))
                batch.clear()
        if batch:
            deleted += int(await self._client.unlink(*batch))
        return deleted

    async def incr(self, key: str, amount: int = 1, ttl_seconds: float | None = None) -> int:
        return (await self._incr_with_ttl(key, amount, ttl_seconds))[0]


class RedisRateLimiter(_RedisBase):
    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        count, ttl_ms = await self._incr_with_ttl("rl:" + key, 1, window_seconds)
        return _decision(count, limit, ttl_ms / 1000 if ttl_ms > 0 else window_seconds)


class _RedisSubscription(_QueueSubscription):
    def __init__(self, hub: RedisPubSub, channel: str) -> None:
        super().__init__()
        self._hub = hub
        self._channel = channel
        self._pubsub = hub._client.pubsub(ignore_subscribe_messages=True)
        self._reader: asyncio.Task[None] | None = None

    async def _open(self) -> None:
        await self._pubsub.subscribe(self._channel)
        self._hub._open.add(self)
        self._reader = asyncio.create_task(self._read(), name=f"redis-subscription:{self._channel}")

    async def _read(self) -> None:
        try:
            async for message in self._pubsub.listen():
                if message.get("type") == "message":
                    self._push(message["data"])
        except RedisError as exc:
            self._push(UpstreamUnavailable(f"pub/sub connection lost: {type(exc).__name__}"))

    async def _close(self) -> None:
        self._hub._open.discard(self)
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]


class RedisPubSub:
    """PUBLISH/SUBSCRIBE: a message reaches every replica's subscribers; one connection per subscription."""

    def __init__(self, client: redis.Redis, key_prefix: str) -> None:
        self._client = client
        self._prefix = key_prefix
        self._open: set[_RedisSubscription] = set()

    async def publish(self, channel: str, data: bytes) -> None:
        await self._client.publish(self._prefix + channel, data)

    def subscribe(self, channel: str) -> Subscription:
        return _RedisSubscription(self, self._prefix + channel)

    async def aclose(self) -> None:
        for subscription in tuple(self._open):
            await subscription.aclose()


# ---- the bundle ------------------------------------------------------------------------------------------


@dataclass
class Backends:
    """What a process shares between the services it hosts; `client` is the Redis client when there is one."""

    cache: Cache
    rate_limiter: RateLimiter
    pubsub: PubSub
    client: redis.Redis | None = None

    @property
    def kind(self) -> str:
        return "memory" if self.client is None else "redis"

    async def ping(self) -> None:
        """Raises when Redis cannot answer (used by /health); the in-process backends are always up."""
        if self.client is not None:
            await self.client.ping()

    async def aclose(self) -> None:
        """Ends open subscriptions, then closes the Redis connections."""
        await self.pubsub.aclose()
        if self.client is not None:
            await self.client.aclose()


def create_backends(redis_url: str | None, key_prefix: str = "geko:") -> Backends:
    """Redis-backed when `redis_url` is set (keys and channels under `key_prefix`), in-process otherwise."""
    if not redis_url:
        return Backends(cache=MemoryCache(), rate_limiter=MemoryRateLimiter(), pubsub=MemoryPubSub())
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=5, health_check_interval=30)
    return Backends(
        cache=RedisCache(client, key_prefix),
        rate_limiter=RedisRateLimiter(client, key_prefix),
        pubsub=RedisPubSub(client, key_prefix),
        client=client,
    )
