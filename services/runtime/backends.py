"""Cache, rate limiter, pub/sub and event log behind one interface: Redis when REDIS_URL is set, in-process
otherwise.

The embedded mode (one process) needs no Redis; the distributed mode shares state between replicas through it.
Both implementations pass the same contract tests (tests/unit/runtime/test_backends.py, test_event_log.py).
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, cast

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


class EventLog(Protocol):
    """Numbered events kept for a while, readable from any process: a chat turn's stream, which a client that
    lost its connection reads again from the last sequence number it saw."""

    async def append(self, stream: str, entries: Sequence[tuple[int, bytes]], ttl_seconds: float) -> None:
        """Adds entries (seq, data) in order; seqs are positive and strictly increasing across calls for one
        stream (the writer numbers them; a seq <= the last one raises ValueError and nothing is appended).
        Each call (re)sets the stream's expiry to ttl_seconds from now."""
        ...

    async def read(
        self, stream: str, after: int, *, wait_seconds: float = 0.0, limit: int = 1000
    ) -> list[tuple[int, bytes]]:
        """Entries with seq > after, oldest first, at most `limit`. When there are none and wait_seconds > 0,
        waits up to that long for the next append and returns what arrived (possibly []). Never raises for an
        unknown or expired stream: that's []."""
        ...

    async def last_seq(self, stream: str) -> int:
        """The highest seq appended so far; 0 for an unknown or expired stream."""
        ...


def _retry_after(ttl_seconds: float) -> int:
    return max(1, math.ceil(ttl_seconds))


def _decision(count: int, limit: int, ttl_seconds: float) -> RateDecision:
    if count <= limit:
        return RateDecision(allowed=True, remaining=limit - count, retry_after_seconds=0)
    return RateDecision(allowed=False, remaining=0, retry_after_seconds=_retry_after(ttl_seconds))


def _check_append(entries: Sequence[tuple[int, bytes]], ttl_seconds: float) -> None:
    """The checks both event logs make before touching anything: positive, strictly increasing seqs."""
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    previous = 0
    for seq, _ in entries:
        if seq <= previous:
            raise ValueError(f"event seq {seq} is not greater than {previous}")
        previous = seq


def _check_read(wait_seconds: float, limit: int) -> None:
    if wait_seconds < 0:
        raise ValueError("wait_seconds must not be negative")
    if limit < 1:
        raise ValueError("limit must be at least 1")


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


@dataclass(slots=True)
class _MemoryStream:
    entries: list[tuple[int, bytes]]
    expires_at: float


class MemoryEventLog:
    """Per-stream lists with an expiry on a monotonic clock; a reader waiting on a stream holds a future that
    only an append to that stream resolves. Expired streams go when touched and in a sweep at most every
    `purge_interval` seconds, so a long-running process keeps only live streams."""

    def __init__(self, clock: Clock = time.monotonic, purge_interval: float = 10.0) -> None:
        self._clock = clock
        self._purge_interval = purge_interval
        self._streams: dict[str, _MemoryStream] = {}
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._next_purge = clock() + purge_interval

    def _maybe_purge(self, now: float) -> None:
        if now < self._next_purge:
            return
        self._next_purge = now + self._purge_interval
        for name in [name for name, s in self._streams.items() if s.expires_at <= now]:
            del self._streams[name]

    def _live(self, stream: str) -> _MemoryStream | None:
        now = self._clock()
        self._maybe_purge(now)
        found = self._streams.get(stream)
        if found is not None and found.expires_at <= now:
            del self._streams[stream]
            return None
        return found

    async def append(self, stream: str, entries: Sequence[tuple[int, bytes]], ttl_seconds: float) -> None:
        _check_append(entries, ttl_seconds)
        found = self._live(stream)
        if found is None and not entries:
            return
        if found is not None and found.entries and entries and entries[0][0] <= found.entries[-1][0]:
            raise ValueError(f"event seq {entries[0][0]} is not greater than {found.entries[-1][0]}")
        if found is None:
            found = self._streams[stream] = _MemoryStream(entries=[], expires_at=0.0)
        found.entries.extend((seq, bytes(data)) for seq, data in entries)
        found.expires_at = self._clock() + ttl_seconds
        if entries:
            for waiter in self._waiters.pop(stream, ()):
                if not waiter.done():
                    waiter.set_result(None)

    def _after(self, stream: str, after: int, limit: int) -> list[tuple[int, bytes]]:
        found = self._live(stream)
        if found is None:
            return []
        start = bisect.bisect_right(found.entries, after, key=lambda entry: entry[0])
        return found.entries[start : start + limit]

    async def read(
        self, stream: str, after: int, *, wait_seconds: float = 0.0, limit: int = 1000
    ) -> list[tuple[int, bytes]]:
        _check_read(wait_seconds, limit)
        found = self._after(stream, after, limit)
        if found or wait_seconds == 0:
            return found
        try:
            async with asyncio.timeout(wait_seconds):
                while not found:
                    await self._next_append(stream)
                    found = self._after(stream, after, limit)
        except TimeoutError:
            pass
        return found

    async def _next_append(self, stream: str) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(stream, set())
        waiters.add(waiter)
        try:
            await waiter
        finally:
            waiters.discard(waiter)
            if not waiters and self._waiters.get(stream) is waiters:
                del self._waiters[stream]

    async def last_seq(self, stream: str) -> int:
        found = self._live(stream)
        return found.entries[-1][0] if found is not None and found.entries else 0


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


# Appends (seq, data) pairs unless the first seq is not above the stream's last one, then (re)starts the
# expiry; atomic, so a rejected append writes nothing. ARGV: ttl ms, then seq, data, seq, data, ...
_APPEND_SCRIPT = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if last and #ARGV > 1 and tonumber(ARGV[2]) <= tonumber(string.match(last[1], '^(%d+)-')) then
  return 0
end
for i = 2, #ARGV, 2 do
  redis.call('XADD', KEYS[1], ARGV[i] .. '-1', 'd', ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
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


def _seq(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[0])


# Stream entries as redis-py returns them to a client without decode_responses (as create_backends makes).
_RawEntries = list[tuple[bytes, dict[bytes, bytes]]]


def _entries(raw: _RawEntries) -> list[tuple[int, bytes]]:
    return [(_seq(entry_id), fields[b"d"]) for entry_id, fields in raw]


class RedisEventLog:
    """One Redis stream per event stream; the entry id `{seq}-1` makes the writer's seq the id, so
    XRANGE/XREAD "after an id" is exactly "seq > after". A waiting read is XREAD BLOCK and holds a pool
    connection while it waits."""

    def __init__(self, client: redis.Redis, key_prefix: str) -> None:
        self._client = client
        self._prefix = key_prefix
        self._append_script = client.register_script(_APPEND_SCRIPT)

    def _key(self, stream: str) -> str:
        return f"{self._prefix}events:{stream}"

    async def append(self, stream: str, entries: Sequence[tuple[int, bytes]], ttl_seconds: float) -> None:
        _check_append(entries, ttl_seconds)
        args: list[int | bytes] = [_millis(ttl_seconds)]
        for seq, data in entries:
            args += [seq, data]
        if not await self._append_script(keys=[self._key(stream)], args=args):
            raise ValueError(f"event seq {entries[0][0]} is not greater than the stream's last one")

    async def read(
        self, stream: str, after: int, *, wait_seconds: float = 0.0, limit: int = 1000
    ) -> list[tuple[int, bytes]]:
        _check_read(wait_seconds, limit)
        key = self._key(stream)
        if wait_seconds == 0:
            return _entries(
                cast(_RawEntries, await self._client.xrange(key, f"({after}-1", "+", count=limit))
            )
        # With an explicit id XREAD answers at once when entries are there, so no append can slip in between.
        answer = cast(
            list[tuple[bytes, _RawEntries]],
            await self._client.xread({key: f"{after}-1"}, count=limit, block=_millis(wait_seconds)),
        )
        return _entries(answer[0][1]) if answer else []

    async def last_seq(self, stream: str) -> int:
        newest = cast(_RawEntries, await self._client.xrevrange(self._key(stream), "+", "-", count=1))
        return _seq(newest[0][0]) if newest else 0


# ---- the bundle ------------------------------------------------------------------------------------------


@dataclass
class Backends:
    """What a process shares between the services it hosts; `client` is the Redis client when there is one."""

    cache: Cache
    rate_limiter: RateLimiter
    pubsub: PubSub
    event_log: EventLog
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


# Each waiting event-log read holds a connection for its whole wait (one per open chat stream), so the pool
# must hold far more than redis-py's default of 100, past which reads fail with "Too many connections".
_MAX_CONNECTIONS = 2000


def create_backends(redis_url: str | None, key_prefix: str = "geko:") -> Backends:
    """Redis-backed when `redis_url` is set (keys and channels under `key_prefix`), in-process otherwise."""
    if not redis_url:
        return Backends(
            cache=MemoryCache(),
            rate_limiter=MemoryRateLimiter(),
            pubsub=MemoryPubSub(),
            event_log=MemoryEventLog(),
        )
    client = redis.Redis.from_url(
        redis_url, socket_connect_timeout=5, health_check_interval=30, max_connections=_MAX_CONNECTIONS
    )
    return Backends(
        cache=RedisCache(client, key_prefix),
        rate_limiter=RedisRateLimiter(client, key_prefix),
        pubsub=RedisPubSub(client, key_prefix),
        event_log=RedisEventLog(client, key_prefix),
        client=client,
    )
