"""The cache of tenant plans: `WorkspaceAccess.tenant_plan()` (model eligibility, billing quotas) reads it
before it asks `AuthService.GetMe`, a loopback call and two queries, made twice on every chat turn.

Entries live in a `GenerationCache` (services/runtime/generation_cache.py: why they are never stale) as
`plan:<tenant>:<generation>`. A reader writes the plan GetMe gave it under the generation it read before the
call; auth bumps the generation right after every commit that changes a tenant's plan
(services/auth/admin.py `set_plan`), so the very next lookup anywhere that shares the cache misses.

How stale an answer can be, after the commit of a plan change:
- Through auth, in a process whose cache the readers share (Redis, or the same process): not at all.
- With Redis, from a writer that does not bump (nothing does; a hand-edited row): up to `CACHE_TTL_SECONDS`.
- With the in-process backend, from another process: up to `IN_PROCESS_TTL_SECONDS`. `geko admin set-plan`
  beside a running `geko up` is such a process: its bump lands in its own memory, so the server's entries must
  expire on their own. A miss costs one GetMe per tenant per that many seconds (~2.5 ms on a turn's path;
  with 2 s, a user chatting every couple of seconds paid it on every turn), so the bound is 10 s: prompt
  enough for an operator's command, rare enough for a chat.
In-process entries and generations are the process's, not one `ServiceDeps`'s: every deps of a process
shares them, so a bump through any of them (an admin action run in the platform's process) reaches every
reader of that process at once.

A hit skips what GetMe also checked, that the caller's account is still active: nothing disables accounts, and
the token's verification and the membership check each caller makes beside the plan still run.
"""

from __future__ import annotations

from services.runtime.backends import Cache, MemoryCache
from services.runtime.generation_cache import CACHE_TTL_SECONDS, GenerationCache

IN_PROCESS_TTL_SECONDS = 10.0

_PROCESS_PLANS = MemoryCache()


class PlanCache:
    """Plans by tenant id."""

    def __init__(self, cache: Cache) -> None:
        if isinstance(cache, MemoryCache):
            self._entries = GenerationCache(_PROCESS_PLANS, "plan", IN_PROCESS_TTL_SECONDS)
        else:
            self._entries = GenerationCache(cache, "plan", CACHE_TTL_SECONDS)

    async def generation(self, tenant_id: str) -> int:
        return await self._entries.generation(tenant_id)

    async def get(self, tenant_id: str, generation: int) -> str | None:
        raw = await self._entries.get(tenant_id, generation)
        return raw.decode() if raw is not None else None

    async def put(self, tenant_id: str, generation: int, plan: str) -> None:
        await self._entries.put(tenant_id, generation, plan.encode())

    async def invalidate(self, tenant_id: str) -> None:
        """Call right after committing a change to the tenant's plan."""
        await self._entries.invalidate(tenant_id)
