"""What every chat turn reads of the catalog — a model's row, all its dated prices and its tenant connection —
kept in process memory, so ResolveModel and GetEffectivePrice stop paying SQL round trips and ORM loads.

Never stale for what this service writes: every commit that changes a catalog row, a price or a provider
connection calls `invalidate()` right after it, which bumps the `modelcat` generation in the shared cache
(services/runtime/generation_cache.py); a lookup reads the generation first, so the very next call, on any
replica sharing the cache, reloads. Prices are kept as the whole dated list and the one in force is picked at
the asked time, so a price dated in the future takes over on its own.

What another process writes straight to the database cannot bump the generation: `geko migrate` re-seeding
the platform catalog and its prices (db/seed.py), or a generation counter lost with a flushed Redis. For those
an entry also lives at most process_memo.TTL_SECONDS (30 s): such a change is seen within that time (at
once after a restart; `geko up` seeds before it serves). Install state is not kept here (install jobs are
written by background pulls; only local models need it).

Entries are keyed by model id and may hold any tenant's model: callers apply the visibility rule
(repository.visible_to) on every read, as the database path does. Rows are detached ORM instances, shared
read-only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from db.models.model import ModelCatalog, ModelPrice, ProviderConnection
from services.model.process_memo import ProcessMemo
from services.model.repository import ModelRepository
from services.runtime.backends import Cache
from services.runtime.database import Database
from services.runtime.generation_cache import GenerationCache

NAMESPACE = "modelcat"
SCOPE = "all"  # catalog changes are rare admin actions: one generation for the whole catalog


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    row: ModelCatalog
    prices: tuple[ModelPrice, ...]  # oldest first
    connection: ProviderConnection | None  # the row's tenant connection, when it has one and it exists

    def price_at(self, at: datetime) -> ModelPrice | None:
        """The price in force at `at`: the latest with effective_from ≤ at (as ModelRepository.prices_at)."""
        found = None
        for price in self.prices:
            if price.effective_from > at:
                break
            found = price
        return found


class CatalogCache:
    def __init__(self, database: Database, cache: Cache, clock: Callable[[], float] = time.monotonic) -> None:
        self._db = database
        self._generations = GenerationCache(cache, NAMESPACE)
        self._held: ProcessMemo[str, CatalogEntry] = ProcessMemo(clock=clock)

    async def entry(self, model_id: str) -> CatalogEntry | None:
        """The model with its prices and connection, whatever its tenant; None when no such model."""
        generation = await self._generations.generation(SCOPE)
        entry = self._held.get(model_id, generation)
        if entry is not None:
            return entry
        async with self._db.session() as session:
            entry = await _load(ModelRepository(session), model_id)
        if entry is not None:
            self._held.put(model_id, generation, entry)
        return entry

    async def invalidate(self) -> None:
        """Call right after committing a change to a catalog row, a price or a provider connection."""
        await self._generations.invalidate(SCOPE)


async def _load(repository: ModelRepository, model_id: str) -> CatalogEntry | None:
    row = await repository.any_model(model_id)
    if row is None:
        return None
    connection = (
        await repository.connection(row.tenant_id or "", row.connection_id) if row.connection_id else None
    )
    return CatalogEntry(row, tuple(await repository.prices_of(row.id)), connection)
