"""Cached answers that are never stale: entries live under a per-scope generation that a change bumps.

Keys are `<namespace>:<scope>:<generation>[:<key>]`, the counter `<namespace>-gen:<scope>`. The owner of the
data bumps the generation right after every commit that changes it, so the very next lookup anywhere misses.
A lookup reads the generation before the database, so one that raced a change can only store its answer under
the old generation, which nobody reads any more. The generation key has no TTL: if it expired, the counter
would restart and could land on a generation whose entries are still alive.
"""

from __future__ import annotations

from services.runtime.backends import Cache

CACHE_TTL_SECONDS = 300.0


class GenerationCache:
    def __init__(self, cache: Cache, namespace: str, ttl_seconds: float = CACHE_TTL_SECONDS) -> None:
        self._cache = cache
        self._namespace = namespace
        self._ttl = ttl_seconds

    async def generation(self, scope: str) -> int:
        raw = await self._cache.get(self._generation_key(scope))
        return int(raw) if raw is not None else 0

    async def get(self, scope: str, generation: int, key: str = "") -> bytes | None:
        return await self._cache.get(self._entry_key(scope, generation, key))

    async def put(self, scope: str, generation: int, value: bytes, key: str = "") -> None:
        await self._cache.set(self._entry_key(scope, generation, key), value, self._ttl)

    async def invalidate(self, scope: str) -> None:
        """Call right after committing a change to what `scope` caches."""
        await self._cache.incr(self._generation_key(scope))

    def _generation_key(self, scope: str) -> str:
        return f"{self._namespace}-gen:{scope}"

    def _entry_key(self, scope: str, generation: int, key: str) -> str:
        entry = f"{self._namespace}:{scope}:{generation}"
        return f"{entry}:{key}" if key else entry
